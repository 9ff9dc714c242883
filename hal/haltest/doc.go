// Package haltest provides fakes of the hal contracts. The conformance
// checks that both the fakes and the real board drivers must pass live in
// hal/halcheck, so that the firmware binary can run them on a real board
// without linking a fake.
//
// Every fake keeps its state under a mutex, delivers events through
// channels and logs its calls with timestamps from an injected clock
// (a func() time.Time; nil means time.Now). Under testing/synctest
// time.Now is the bubble's fake clock, and the fakes wait only on channels
// and timers, never on a mutex or a busy loop, so fake time can advance
// while a test waits on them.
//
// This package imports only hal, hal/halcheck and the standard library.
package haltest

import "time"

// clockOrNow returns clock, or time.Now when clock is nil.
func clockOrNow(clock func() time.Time) func() time.Time {
	if clock == nil {
		return time.Now
	}
	return clock
}
