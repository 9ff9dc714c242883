package board

import (
	"time"

	"github.com/capturebox/capturebox/hal"
)

// DefaultSettle is how long the button's level must stay put before a
// change counts (contact bounce on a tactile switch lasts a few ms).
const DefaultSettle = 30 * time.Millisecond

// Debouncer turns the raw level changes of a push button into gestures.
// It is a pure state machine: it reads no clock and starts no timer. The
// caller reports each level change with Edge, asks Deadline when it next
// needs to be woken, and calls Advance with the time; Advance returns the
// gestures recognised by then.
//
// A level counts once it has been stable for Settle. A press that has
// lasted Long is a hal.LongPress, sent at that moment, before the
// release; a shorter one is a hal.Press, sent when the release has
// settled. The zero value is not usable: use NewDebouncer.
type Debouncer struct {
	settle, hold time.Duration

	raw    bool      // the last level reported (true = pressed)
	rawAt  time.Time // when it was reported
	stable bool      // the debounced level
	downAt time.Time // when the debounced press began (its first edge)
	sent   bool      // LongPress already sent for this press
}

// NewDebouncer returns a debouncer with the given settle time and
// long-press threshold (DefaultSettle and hal.DefaultLongPress when not
// positive), for a button that is released.
func NewDebouncer(settle, long time.Duration) *Debouncer {
	if settle <= 0 {
		settle = DefaultSettle
	}
	if long <= 0 {
		long = hal.DefaultLongPress
	}
	return &Debouncer{settle: settle, hold: long}
}

// Edge reports that the button's raw level is now pressed (or released)
// at time at. Reporting the level it already has changes nothing.
func (d *Debouncer) Edge(pressed bool, at time.Time) {
	if pressed == d.raw {
		return
	}
	d.raw, d.rawAt = pressed, at
}

// Deadline returns the time at which Advance has something to decide, and
// false when nothing will happen until the next Edge.
func (d *Debouncer) Deadline() (time.Time, bool) {
	switch {
	case d.raw != d.stable:
		return d.rawAt.Add(d.settle), true
	case d.stable && !d.sent:
		return d.downAt.Add(d.hold), true
	}
	return time.Time{}, false
}

// Pressed reports the debounced level.
func (d *Debouncer) Pressed() bool { return d.stable }

// Advance brings the machine to time now and returns the gestures
// recognised, stamped with the time they were recognised.
func (d *Debouncer) Advance(now time.Time) []hal.ButtonEvent {
	var out []hal.ButtonEvent
	if d.raw != d.stable {
		settled := d.rawAt.Add(d.settle)
		if now.Before(settled) {
			return nil
		}
		d.stable = d.raw
		if d.stable {
			d.downAt, d.sent = d.rawAt, false
		} else if !d.sent {
			out = append(out, hal.ButtonEvent{Kind: hal.Press, At: settled})
		}
	}
	if d.stable && !d.sent {
		at := d.downAt.Add(d.hold)
		if !now.Before(at) {
			d.sent = true
			out = append(out, hal.ButtonEvent{Kind: hal.LongPress, At: at})
		}
	}
	return out
}
