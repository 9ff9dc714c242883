// Package haltest provides fakes of the hal contracts and the conformance
// checks that both the fakes and the real board drivers must pass.
//
// Every fake keeps its state under a mutex, delivers events through
// channels and logs its calls with timestamps from an injected clock
// (a func() time.Time; nil means time.Now). Under testing/synctest
// time.Now is the bubble's fake clock, and the fakes wait only on channels
// and timers, never on a mutex or a busy loop, so fake time can advance
// while a test waits on them.
//
// The Check functions (CheckLED, CheckButton, CheckDisplay, CheckConsole,
// CheckCaptureSource) exercise a contract from the outside and return an
// error describing the first violation. They use only the hal interfaces, so
// a smoke test on the box runs them against the real drivers.
//
// This package imports only hal and the standard library.
package haltest

import "time"

// clockOrNow returns clock, or time.Now when clock is nil.
func clockOrNow(clock func() time.Time) func() time.Time {
	if clock == nil {
		return time.Now
	}
	return clock
}
