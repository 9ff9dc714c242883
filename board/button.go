package board

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/capturebox/capturebox/hal"
)

// ButtonOptions tune a Button. Zero values take the defaults.
type ButtonOptions struct {
	// Settle is the debounce time. Default DefaultSettle.
	Settle time.Duration
	// LongPress is the hold that makes a long press. Default
	// hal.DefaultLongPress.
	LongPress time.Duration
	// Poll bounds each wait for an edge, so that Close is noticed on a
	// pin whose Halt does not interrupt the wait. Default 200ms.
	Poll time.Duration
	// Now is the clock. Default time.Now (the fake clock under
	// testing/synctest).
	Now func() time.Time
	// Logger receives dropped gestures. Default slog.Default().
	Logger *slog.Logger
}

// ButtonBuffer is how many gestures wait for a slow reader.
const ButtonBuffer = 16

// Button is the status button: a push button from a GPIO input to ground,
// with the pin's pull-up, so that pressed reads low. It implements
// hal.Button. Close stops watching the pin but does not release it: the
// opener owns the pin.
type Button struct {
	pin    gpio.PinIn
	opt    ButtonOptions
	events chan hal.ButtonEvent
	levels chan level
	done   chan struct{}
	// watched and ran are closed when the two goroutines have returned.
	watched, ran chan struct{}
	once         sync.Once

	mu      sync.Mutex
	pressed bool // the debounced level, for Pressed
}

type level struct {
	pressed bool
	at      time.Time
}

var _ hal.Button = (*Button)(nil)

// NewButton sets pin as an input with pull-up and edge detection on both
// edges and starts watching it.
func NewButton(pin gpio.PinIn, opt ButtonOptions) (*Button, error) {
	if opt.Poll <= 0 {
		opt.Poll = 200 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if err := pin.In(gpio.PullUp, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("button on %s: set as input with pull-up: %w", pin.Name(), err)
	}
	b := &Button{
		pin:     pin,
		opt:     opt,
		events:  make(chan hal.ButtonEvent, ButtonBuffer),
		levels:  make(chan level),
		done:    make(chan struct{}),
		watched: make(chan struct{}),
		ran:     make(chan struct{}),
	}
	go b.watch()
	go b.run(NewDebouncer(opt.Settle, opt.LongPress))
	return b, nil
}

// Events implements hal.Button.
func (b *Button) Events() <-chan hal.ButtonEvent { return b.events }

// Pressed reports whether the button is down now (debounced).
func (b *Button) Pressed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pressed
}

// Close implements hal.Button: it stops watching the pin and closes the
// events channel.
func (b *Button) Close() error {
	b.once.Do(func() {
		close(b.done)
		_ = b.pin.Halt() // interrupts a pending WaitForEdge where supported
		<-b.watched
		<-b.ran
		close(b.events)
	})
	return nil
}

// watch turns the pin's edges into level changes for run.
func (b *Button) watch() {
	defer close(b.watched)
	last := false
	for {
		select {
		case <-b.done:
			return
		default:
		}
		b.pin.WaitForEdge(b.opt.Poll)
		pressed := b.pin.Read() == gpio.Low
		if pressed == last {
			continue
		}
		last = pressed
		select {
		case b.levels <- level{pressed, b.opt.Now()}:
		case <-b.done:
			return
		}
	}
}

// run feeds the debouncer and sends its gestures.
func (b *Button) run(d *Debouncer) {
	defer close(b.ran)
	for {
		var wake <-chan time.Time
		var t *time.Timer
		if at, ok := d.Deadline(); ok {
			t = time.NewTimer(max(0, at.Sub(b.opt.Now())))
			wake = t.C
		}
		select {
		case l := <-b.levels:
			d.Edge(l.pressed, l.at)
		case <-wake:
		case <-b.done:
			if t != nil {
				t.Stop()
			}
			return
		}
		if t != nil {
			t.Stop()
		}
		for _, ev := range d.Advance(b.opt.Now()) {
			select {
			case b.events <- ev:
			default:
				b.opt.Logger.Warn("button: gesture dropped, nobody is reading", "kind", ev.Kind.String())
			}
		}
		b.mu.Lock()
		b.pressed = d.Pressed()
		b.mu.Unlock()
	}
}

// errClosed is returned by devices used after Close.
var errClosed = errors.New("closed")
