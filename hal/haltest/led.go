package haltest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// ErrClosed is returned by a fake used after Close.
var ErrClosed = errors.New("haltest: device closed")

// LEDChange is one pattern change of a FakeLED.
type LEDChange struct {
	At      time.Time
	Pattern hal.Pattern
}

// FakeLED is an in-memory hal.LED that records every pattern change.
type FakeLED struct {
	clock func() time.Time

	mu       sync.Mutex
	current  hal.Pattern
	timeline []LEDChange
	calls    int
	closed   bool
}

var _ hal.LED = (*FakeLED)(nil)

// NewFakeLED returns an LED that is off, stamping changes with clock
// (nil means time.Now).
func NewFakeLED(clock func() time.Time) *FakeLED {
	return &FakeLED{clock: clockOrNow(clock)}
}

// Show implements hal.LED.
func (l *FakeLED) Show(p hal.Pattern) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.closed {
		return fmt.Errorf("led show %v: %w", p, ErrClosed)
	}
	if !p.Valid() {
		return fmt.Errorf("led show %v: %w", p, hal.ErrInvalidPattern)
	}
	l.setLocked(p)
	return nil
}

func (l *FakeLED) setLocked(p hal.Pattern) {
	if p == l.current {
		return
	}
	l.current = p
	l.timeline = append(l.timeline, LEDChange{At: l.clock(), Pattern: p})
}

// Close implements hal.LED: the LED goes off. Close may be called again.
func (l *FakeLED) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.setLocked(hal.Off)
	l.closed = true
	return nil
}

// Pattern returns the pattern shown now.
func (l *FakeLED) Pattern() hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}

// Timeline returns every pattern change so far, oldest first. Repeated
// Show calls with the current pattern do not appear.
func (l *FakeLED) Timeline() []LEDChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LEDChange(nil), l.timeline...)
}

// Calls returns how many times Show was called, including no-ops and
// failed calls.
func (l *FakeLED) Calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// Closed reports whether Close was called.
func (l *FakeLED) Closed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}
