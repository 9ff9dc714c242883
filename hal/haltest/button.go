package haltest

import (
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// ButtonBuffer is the capacity of a FakeButton's event channel: the
// minimum the hal.Button contract allows, so that tests see what a slow
// reader of a real driver would see.
const ButtonBuffer = 8

// FakeButton is an in-memory hal.Button.
//
// Tests either inject whole gestures with Press and LongPress, or drive raw
// edges with Down and Up, in which case the fake recognises gestures the
// way a driver does: Up before the long-press threshold gives a Press;
// holding for the threshold gives one LongPress at that moment, without
// waiting for Up, and no Press for the same hold.
//
// The hold is measured with a runtime timer (time.AfterFunc), so under
// testing/synctest a test that calls Down, sleeps past the threshold and
// calls Up sees the LongPress stamped at exactly Down+threshold. With a
// hand-driven clock that the timer does not follow, Up also compares the
// clock: a hold the clock says was long enough yields the LongPress at Up.
//
// When the channel's buffer is full, newer gestures are dropped (and
// counted) so that the gestures already waiting are kept.
type FakeButton struct {
	clock func() time.Time

	mu        sync.Mutex
	threshold time.Duration
	ch        chan hal.ButtonEvent
	closed    bool
	log       []hal.ButtonEvent
	dropped   int

	down     bool
	downAt   time.Time
	longSent bool
	hold     *time.Timer
	gen      int
}

var _ hal.Button = (*FakeButton)(nil)

// NewFakeButton returns a button with the hal.DefaultLongPress threshold,
// stamping gestures with clock (nil means time.Now).
func NewFakeButton(clock func() time.Time) *FakeButton {
	return &FakeButton{
		clock:     clockOrNow(clock),
		threshold: hal.DefaultLongPress,
		ch:        make(chan hal.ButtonEvent, ButtonBuffer),
	}
}

// SetLongPress changes the long-press threshold used by Down and Up.
func (b *FakeButton) SetLongPress(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.threshold = d
}

// Events implements hal.Button.
func (b *FakeButton) Events() <-chan hal.ButtonEvent { return b.ch }

// Press injects a short press, stamped now.
func (b *FakeButton) Press() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.emitLocked(hal.Press)
}

// LongPress injects a long press, stamped now.
func (b *FakeButton) LongPress() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.emitLocked(hal.LongPress)
}

// Down is the raw edge of the button going down. A Down while already down
// is ignored.
func (b *FakeButton) Down() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.down {
		return
	}
	b.down, b.longSent = true, false
	b.downAt = b.clock()
	b.gen++
	gen := b.gen
	b.hold = time.AfterFunc(b.threshold, func() { b.held(gen) })
}

// held runs when a hold reaches the threshold.
func (b *FakeButton) held(gen int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down || b.gen != gen || b.longSent {
		return
	}
	b.longSent = true
	b.emitLocked(hal.LongPress)
}

// Up is the raw edge of the button coming up. An Up without Down is
// ignored.
func (b *FakeButton) Up() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down {
		return
	}
	b.down = false
	if b.hold != nil {
		b.hold.Stop()
		b.hold = nil
	}
	if b.longSent {
		return
	}
	if b.clock().Sub(b.downAt) >= b.threshold {
		b.emitLocked(hal.LongPress)
		return
	}
	b.emitLocked(hal.Press)
}

// Hold is Down, a sleep of d, and Up: under testing/synctest the sleep
// takes no real time. It is the press function CheckButton wants.
func (b *FakeButton) Hold(d time.Duration) {
	b.Down()
	time.Sleep(d)
	b.Up()
}

func (b *FakeButton) emitLocked(k hal.ButtonKind) {
	if b.closed {
		return
	}
	ev := hal.ButtonEvent{Kind: k, At: b.clock()}
	b.log = append(b.log, ev)
	select {
	case b.ch <- ev:
	default:
		b.dropped++
	}
}

// Log returns every gesture recognised or injected, oldest first,
// including dropped ones.
func (b *FakeButton) Log() []hal.ButtonEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hal.ButtonEvent(nil), b.log...)
}

// Dropped returns how many gestures were lost because the channel was full.
func (b *FakeButton) Dropped() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// Close implements hal.Button: it closes the event channel. Gestures after
// Close are ignored. Close may be called more than once.
func (b *FakeButton) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.hold != nil {
		b.hold.Stop()
		b.hold = nil
	}
	b.down = false
	close(b.ch)
	return nil
}
