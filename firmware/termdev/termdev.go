// Package termdev is the development box (make run): the LED and display
// rendered in a terminal, the console on stdin, the button as console
// commands. Each change is printed as one line, so the output also reads
// well in a log. Only the development build of capturebox imports it.
package termdev

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/capturebox/capturebox/hal"
)

// LED prints the recording lamp's pattern when it changes.
type LED struct {
	mu     sync.Mutex
	w      io.Writer
	cur    hal.Pattern
	shown  bool
	closed bool
}

// NewLED returns an LED that prints to w.
func NewLED(w io.Writer) *LED { return &LED{w: w} }

var symbols = map[hal.Pattern]string{
	hal.Off:       "( )  off",
	hal.On:        "(●)  ON: recording",
	hal.SlowBlink: "(◌)  slow blink: a recording starts within a minute",
	hal.FastBlink: "(!)  FAST BLINK: a fault needs a person",
}

// Show implements hal.LED.
func (l *LED) Show(p hal.Pattern) error {
	if !p.Valid() {
		return hal.ErrInvalidPattern
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("termdev: LED closed")
	}
	if l.shown && p == l.cur {
		return nil
	}
	l.cur, l.shown = p, true
	_, err := fmt.Fprintf(l.w, "LED %s\n", symbols[p])
	return err
}

// Close implements hal.LED.
func (l *LED) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed && l.shown && l.cur != hal.Off {
		fmt.Fprintf(l.w, "LED %s\n", symbols[hal.Off])
	}
	l.closed = true
	return nil
}

// Display prints the character display's lines in a box when they change.
// A change that only moves a clock (the elapsed time while recording) is
// printed at most every Every, so a terminal is not flooded once a second.
type Display struct {
	mu         sync.Mutex
	w          io.Writer
	cols, rows int
	now        func() time.Time
	every      time.Duration
	last       string // what is on the screen
	printed    string // what was last printed
	printedAt  time.Time
	closed     bool
}

// NewDisplay returns a cols×rows display that prints to w.
func NewDisplay(w io.Writer, cols, rows int) *Display {
	return &Display{w: w, cols: cols, rows: rows, now: time.Now, every: 30 * time.Second}
}

// Lines returns what the display shows now.
func (d *Display) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == "" {
		return Render(d.cols, d.rows, nil)
	}
	return strings.Split(d.last, "\n")
}

// digitless maps every digit to '#', so that two screens that differ only
// in their clocks compare equal.
func digitless(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, s)
}

// Size implements hal.Display.
func (d *Display) Size() (int, int) { return d.cols, d.rows }

// Render cuts or pads lines to the display and replaces non-printable or
// non-ASCII runes with '?', as the hal.Display contract says.
func Render(cols, rows int, lines []string) []string {
	out := make([]string, rows)
	for i := range out {
		var s string
		if i < len(lines) {
			s = strings.Map(func(r rune) rune {
				if r > unicode.MaxASCII || !unicode.IsPrint(r) {
					return '?'
				}
				return r
			}, lines[i])
		}
		if len(s) > cols {
			s = s[:cols]
		}
		out[i] = s + strings.Repeat(" ", cols-len(s))
	}
	return out
}

// Show implements hal.Display.
func (d *Display) Show(lines ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("termdev: display closed")
	}
	r := Render(d.cols, d.rows, lines)
	key := strings.Join(r, "\n")
	if key == d.last {
		return nil
	}
	d.last = key
	now := d.now()
	if digitless(key) == digitless(d.printed) && now.Sub(d.printedAt) < d.every {
		return nil
	}
	d.printed, d.printedAt = key, now
	var b strings.Builder
	for _, l := range r {
		fmt.Fprintf(&b, "LCD |%s|\n", l)
	}
	_, err := io.WriteString(d.w, b.String())
	return err
}

// Close implements hal.Display.
func (d *Display) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
