package board

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// DisplayMode is how a serial character display is driven.
type DisplayMode int

const (
	// SerLCD speaks the SparkFun SerLCD / OpenLCD command set, which
	// passes HD44780 instructions after 0xFE: the screen is set up once,
	// then only the characters that change are sent, each run after a
	// cursor move.
	SerLCD DisplayMode = iota
	// PlainLines writes each new screen as its rows, each ending in
	// "\r\n": for line-mode displays and serial terminals.
	PlainLines
)

// String returns the mode's configuration name.
func (m DisplayMode) String() string {
	switch m {
	case SerLCD:
		return "serlcd"
	case PlainLines:
		return "plain"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseDisplayMode reads "serlcd" or "plain".
func ParseDisplayMode(s string) (DisplayMode, error) {
	switch s {
	case "serlcd", "":
		return SerLCD, nil
	case "plain":
		return PlainLines, nil
	}
	return 0, fmt.Errorf("display type %q is not \"serlcd\" or \"plain\"", s)
}

// SerLCD bytes (SparkFun OpenLCD, and the older SerLCD v2.5).
const (
	serlcdSetting = 0x7C // '|': a setting follows
	serlcdCommand = 0xFE // an HD44780 instruction follows
	hdClear       = 0x01 // clear display, cursor home
	hdSetDDRAM    = 0x80 // | address: move the cursor
)

// DisplayOptions describe a serial character display. Zero values take
// the defaults.
type DisplayOptions struct {
	Cols, Rows int
	Mode       DisplayMode
	// Baud is the port's speed: writes are paced to at most half of it.
	// Default 9600.
	Baud int
	// MinInterval is the shortest time between two writes; screens shown
	// in between are merged, the last one wins. Default 250ms.
	MinInterval time.Duration
	// ScrollPause is how long a line too long for the display rests at
	// its start and at its end; ScrollStep how long each one-character
	// step lasts. Defaults 1.5s and 400ms.
	ScrollPause, ScrollStep time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives write errors. Default slog.Default().
	Logger *slog.Logger
}

// Display drives a character LCD over a serial port. It implements
// hal.Display. A line longer than the display scrolls (a fault in words
// does not fit on 16 columns). Writes happen on a goroutine, paced so that
// the port is never flooded however often Show is called.
type Display struct {
	w   io.WriteCloser
	opt DisplayOptions

	poke, done, stopped chan struct{}

	mu     sync.Mutex
	text   []string    // the rows asked for, printable ASCII, uncut
	since  []time.Time // when each row's text last changed
	wire   []string    // what the display shows (nil: not set up yet)
	nextAt time.Time   // no write before
	err    error       // the last write error, reported by Show
	shown  bool        // Show has been called: nothing is written before
	closed bool
}

var _ hal.Display = (*Display)(nil)

// NewDisplay returns a display writing to w, which Close closes. SerLCD
// supports 16 or 20 columns and 1, 2 or 4 rows.
func NewDisplay(w io.WriteCloser, opt DisplayOptions) (*Display, error) {
	if opt.Cols <= 0 || opt.Rows <= 0 {
		return nil, fmt.Errorf("display: size %dx%d", opt.Cols, opt.Rows)
	}
	if opt.Mode == SerLCD && (opt.Cols != 16 && opt.Cols != 20 || opt.Rows != 1 && opt.Rows != 2 && opt.Rows != 4) {
		return nil, fmt.Errorf("display: a SerLCD is 16 or 20 columns of 1, 2 or 4 rows, not %dx%d", opt.Cols, opt.Rows)
	}
	if opt.Mode != SerLCD && opt.Mode != PlainLines {
		return nil, fmt.Errorf("display: unknown mode %v", opt.Mode)
	}
	if opt.Baud <= 0 {
		opt.Baud = 9600
	}
	if opt.MinInterval <= 0 {
		opt.MinInterval = 250 * time.Millisecond
	}
	if opt.ScrollPause <= 0 {
		opt.ScrollPause = 1500 * time.Millisecond
	}
	if opt.ScrollStep <= 0 {
		opt.ScrollStep = 400 * time.Millisecond
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	d := &Display{
		w: w, opt: opt,
		poke: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
		text: make([]string, opt.Rows), since: make([]time.Time, opt.Rows),
	}
	go d.run()
	return d, nil
}

// Size implements hal.Display.
func (d *Display) Size() (cols, rows int) { return d.opt.Cols, d.opt.Rows }

// printable maps every rune outside printable ASCII to '?', as the
// hal.Display contract says.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteByte(byte(r))
	}
	return b.String()
}

// Show implements hal.Display. It returns at once; the screen reaches the
// port within MinInterval. It returns the error of the last write, when
// that write failed and no Show has returned it yet.
func (d *Display) Show(lines ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("display: %w", errClosed)
	}
	now := d.opt.Now()
	d.shown = true
	for i := range d.text {
		var s string
		if i < len(lines) {
			s = printable(lines[i])
		}
		if s != d.text[i] {
			d.text[i], d.since[i] = s, now
		}
	}
	select {
	case d.poke <- struct{}{}:
	default:
	}
	err := d.err
	d.err = nil
	if err != nil {
		return fmt.Errorf("display: writing to the port: %w", err)
	}
	return nil
}

// Lines returns the screen as it is (or, within MinInterval, will be)
// shown: exactly Rows lines of Cols characters. A long line shows the part
// its scrolling has reached.
func (d *Display) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.frame(d.opt.Now())
}

// frame is the screen at now; d.mu is held.
func (d *Display) frame(now time.Time) []string {
	out := make([]string, d.opt.Rows)
	for i, s := range d.text {
		if over := len(s) - d.opt.Cols; over > 0 {
			off := d.scrollOffset(over, now.Sub(d.since[i]))
			s = s[off : off+d.opt.Cols]
		}
		out[i] = s + strings.Repeat(" ", d.opt.Cols-len(s))
	}
	return out
}

// scrollOffset is where a line over characters too long starts, elapsed
// after it was shown: rest, step to the end, rest, start again.
func (d *Display) scrollOffset(over int, elapsed time.Duration) int {
	pause, step := d.opt.ScrollPause, d.opt.ScrollStep
	period := 2*pause + time.Duration(over)*step
	e := elapsed % period
	if e < pause {
		return 0
	}
	return min(over, 1+int((e-pause)/step))
}

// nextScroll returns when a scrolling row next moves, and false when no
// row scrolls; d.mu is held.
func (d *Display) nextScroll(now time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	pause, step := d.opt.ScrollPause, d.opt.ScrollStep
	for i, s := range d.text {
		over := len(s) - d.opt.Cols
		if over <= 0 {
			continue
		}
		period := 2*pause + time.Duration(over)*step
		e := now.Sub(d.since[i])
		start := d.since[i].Add(e / period * period) // this cycle's start
		in := e % period
		var at time.Time
		switch {
		case in < pause:
			at = start.Add(pause)
		case in < pause+time.Duration(over-1)*step:
			at = start.Add(pause + ((in-pause)/step+1)*step)
		default:
			at = start.Add(period)
		}
		if !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found
}

// encode returns the bytes that turn the screen from old (nil: unknown)
// into screen.
func (d *Display) encode(old, screen []string) []byte {
	var b bytes.Buffer
	if d.opt.Mode == PlainLines {
		for _, row := range screen {
			b.WriteString(row)
			b.WriteString("\r\n")
		}
		return b.Bytes()
	}
	if old == nil {
		width := byte(0x04) // 16 columns
		if d.opt.Cols == 20 {
			width = 0x03
		}
		lines := map[int]byte{1: 0x07, 2: 0x06, 4: 0x05}[d.opt.Rows]
		b.Write([]byte{serlcdSetting, width, serlcdSetting, lines, serlcdCommand, hdClear})
		old = make([]string, len(screen))
		for i := range old {
			old[i] = strings.Repeat(" ", d.opt.Cols)
		}
	}
	for r, row := range screen {
		first, last := -1, -1
		for c := range len(row) {
			if row[c] != old[r][c] {
				if first < 0 {
					first = c
				}
				last = c
			}
		}
		if first < 0 {
			continue
		}
		addr := []int{0x00, 0x40, d.opt.Cols, 0x40 + d.opt.Cols}[r] + first
		b.Write([]byte{serlcdCommand, hdSetDDRAM | byte(addr)})
		// '|' is OpenLCD's setting prefix: it cannot be shown as text.
		b.WriteString(strings.ReplaceAll(row[first:last+1], "|", "!"))
	}
	return b.Bytes()
}

// run writes the screen when it changes, no more often than the options
// allow.
func (d *Display) run() {
	defer close(d.stopped)
	closing := false
	done := d.done
	for {
		d.mu.Lock()
		now := d.opt.Now()
		screen := d.frame(now)
		var out []byte
		due := d.shown && !slices.Equal(screen, d.wire)
		if due && !now.Before(d.nextAt) {
			out = d.encode(d.wire, screen)
			d.wire = screen
			pace := time.Duration(len(out)) * 10 * 2 * time.Second / time.Duration(d.opt.Baud)
			d.nextAt = now.Add(max(d.opt.MinInterval, pace))
			due = false
		}
		var wait time.Duration = -1
		switch {
		case due:
			wait = d.nextAt.Sub(now)
		case !closing:
			if at, ok := d.nextScroll(now); ok {
				wait = at.Sub(now)
			}
		}
		d.mu.Unlock()
		if len(out) > 0 {
			_, err := d.w.Write(out)
			if err != nil {
				d.opt.Logger.Error("display: write", "err", err)
			}
			d.mu.Lock()
			// Show reports the port as the last write found it: a write
			// that succeeds clears an error from before, so a Show after
			// the port came back never returns a failure that raced it.
			d.err = err
			if err != nil {
				d.wire = nil // set the display up again next time
			}
			d.mu.Unlock()
		}
		if closing && (wait < 0 || !due) {
			return
		}
		var tick <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			tick = t.C
		}
		select {
		case <-d.poke:
		case <-tick:
		case <-done:
			closing, done = true, nil
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Close implements hal.Display: the last screen is written (paced as
// usual), then the port is closed.
func (d *Display) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.done)
	<-d.stopped
	if err := d.w.Close(); err != nil {
		return fmt.Errorf("display: close port: %w", err)
	}
	return nil
}
