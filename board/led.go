package board

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/capturebox/capturebox/hal"
)

// Blink half-periods: slow blink is 1 Hz, fast blink 4 Hz (hal.LED).
const (
	slowHalf = 500 * time.Millisecond
	fastHalf = 125 * time.Millisecond
)

// LED is the recording lamp on a GPIO output. It implements hal.LED; a
// goroutine times the blinking. Close turns the lamp off but does not
// release the pin: the opener owns the pin.
type LED struct {
	pin       gpio.PinOut
	activeLow bool
	change    chan struct{}
	done      chan struct{}
	stopped   chan struct{}

	mu     sync.Mutex
	cur    hal.Pattern
	lit    bool // the lamp's state now
	closed bool
}

var _ hal.LED = (*LED)(nil)

// NewLED drives pin off and returns the LED on it. With activeLow the lamp
// is lit by a low level (an LED from 3.3 V to the pin).
func NewLED(pin gpio.PinOut, activeLow bool) (*LED, error) {
	l := &LED{pin: pin, activeLow: activeLow, change: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	if err := l.drive(false); err != nil {
		return nil, err
	}
	go l.blink()
	return l, nil
}

// drive lights the lamp or puts it out; l.mu is held or l is not shared yet.
func (l *LED) drive(lit bool) error {
	lvl := gpio.Level(lit != l.activeLow)
	if err := l.pin.Out(lvl); err != nil {
		return fmt.Errorf("led on %s: drive %v: %w", l.pin.Name(), lvl, err)
	}
	l.lit = lit
	return nil
}

// Show implements hal.LED.
func (l *LED) Show(p hal.Pattern) error {
	if !p.Valid() {
		return hal.ErrInvalidPattern
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("led: %w", errClosed)
	}
	if p == l.cur {
		return nil
	}
	if err := l.drive(p != hal.Off); err != nil {
		return err
	}
	l.cur = p
	select {
	case l.change <- struct{}{}:
	default:
	}
	return nil
}

// Pattern returns the pattern shown.
func (l *LED) Pattern() hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Lit reports whether the lamp is lit at this instant.
func (l *LED) Lit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lit
}

// Close implements hal.LED: the lamp goes off.
func (l *LED) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.cur = hal.Off
	err := l.drive(false)
	l.mu.Unlock()
	close(l.done)
	<-l.stopped
	return err
}

func (l *LED) blink() {
	defer close(l.stopped)
	for {
		l.mu.Lock()
		half := time.Duration(0)
		switch l.cur {
		case hal.SlowBlink:
			half = slowHalf
		case hal.FastBlink:
			half = fastHalf
		}
		l.mu.Unlock()
		var tick <-chan time.Time
		var t *time.Timer
		if half > 0 {
			t = time.NewTimer(half)
			tick = t.C
		}
		select {
		case <-l.done:
			if t != nil {
				t.Stop()
			}
			return
		case <-l.change:
			if t != nil {
				t.Stop()
			}
		case <-tick:
			l.mu.Lock()
			if !l.closed && (l.cur == hal.SlowBlink || l.cur == hal.FastBlink) {
				_ = l.drive(!l.lit) // a failing pin fails Show and Close too
			}
			l.mu.Unlock()
		}
	}
}
