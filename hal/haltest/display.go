package haltest

import (
	"fmt"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
)

// DisplayFrame is one screen shown on a FakeDisplay.
type DisplayFrame struct {
	At    time.Time
	Lines []string
}

// FakeDisplay is an in-memory hal.Display of cols×rows characters.
type FakeDisplay struct {
	clock      func() time.Time
	cols, rows int

	mu      sync.Mutex
	lines   []string
	history []DisplayFrame
	closed  bool
}

var _ hal.Display = (*FakeDisplay)(nil)

// NewFakeDisplay returns a blank display of cols×rows (16×2 when either is
// not positive), stamping frames with clock (nil means time.Now).
func NewFakeDisplay(cols, rows int, clock func() time.Time) *FakeDisplay {
	if cols <= 0 || rows <= 0 {
		cols, rows = 16, 2
	}
	return &FakeDisplay{clock: clockOrNow(clock), cols: cols, rows: rows, lines: halcheck.RenderDisplay(cols, rows)}
}

// Size implements hal.Display.
func (d *FakeDisplay) Size() (cols, rows int) { return d.cols, d.rows }

// Show implements hal.Display.
func (d *FakeDisplay) Show(lines ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("display show: %w", ErrClosed)
	}
	d.lines = halcheck.RenderDisplay(d.cols, d.rows, lines...)
	d.history = append(d.history, DisplayFrame{At: d.clock(), Lines: append([]string(nil), d.lines...)})
	return nil
}

// Lines returns the screen as shown: exactly rows lines of exactly cols
// printable ASCII characters.
func (d *FakeDisplay) Lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.lines...)
}

// History returns every screen shown, oldest first.
func (d *FakeDisplay) History() []DisplayFrame {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DisplayFrame, len(d.history))
	for i, f := range d.history {
		out[i] = DisplayFrame{At: f.At, Lines: append([]string(nil), f.Lines...)}
	}
	return out
}

// Close implements hal.Display; Show fails afterwards.
func (d *FakeDisplay) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
