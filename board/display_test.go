package board

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/hal/halcheck"
)

var update = flag.Bool("update", false, "rewrite the golden byte streams in testdata")

// wire records what a display writes, with when.
type wire struct {
	t0     time.Time
	mu     sync.Mutex
	log    strings.Builder
	writes []time.Time
	bytes  int
	closed bool
	fail   error
}

func newWire() *wire { return &wire{t0: time.Now()} }

func (w *wire) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return 0, w.fail
	}
	if w.closed {
		return 0, errors.New("write on closed port")
	}
	now := time.Now()
	w.writes = append(w.writes, now)
	w.bytes += len(p)
	fmt.Fprintf(&w.log, "+%-8v %s\n", now.Sub(w.t0), dump(p))
	return len(p), nil
}

func (w *wire) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	fmt.Fprintf(&w.log, "+%-8v close\n", time.Since(w.t0))
	return nil
}

func (w *wire) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

// dump shows printable runs quoted and other bytes in hex.
func dump(p []byte) string {
	var parts []string
	for i := 0; i < len(p); {
		j := i
		for j < len(p) && p[j] >= 0x20 && p[j] <= 0x7e && p[j] != serlcdSetting {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%q", p[i:j]))
			i = j
			continue
		}
		parts = append(parts, fmt.Sprintf("%02x", p[i]))
		i++
	}
	return strings.Join(parts, " ")
}

// script is what the box shows over about 20 s: idle with a next event,
// a recording whose clock runs (shown far more often than the display
// may be written), a long fault in words, back to idle.
func script(d *Display) {
	// The odd milliseconds keep every Show off the instants the display
	// wakes by itself (pacing, scroll steps), so the stream is one.
	d.Show("IDLE 09:00", "Next 10:00 Maths 101", "Uploads: none", "10.0.2.15")
	time.Sleep(1003 * time.Millisecond)
	d.Show("REC 00:00:00", "Maths 101", "Uploads: none", "10.0.2.15")
	for i := 1; i <= 40; i++ { // every 51 ms: merged by the pacing
		time.Sleep(51 * time.Millisecond)
		d.Show(fmt.Sprintf("REC 00:00:%02d", i/20), "Maths 101", "Uploads: none", "10.0.2.15")
	}
	time.Sleep(1009 * time.Millisecond)
	d.Show("REC 00:00:03", "! NO SIGNAL: CHECK THE HDMI CABLE", "Uploads: 1 queued | 0 failed", "10.0.2.15")
	time.Sleep(12011 * time.Millisecond)
	d.Show("IDLE 10:00", "", "", "")
	time.Sleep(1013 * time.Millisecond)
	d.Close()
}

func TestDisplayGolden(t *testing.T) {
	for _, c := range []struct {
		mode       DisplayMode
		cols, rows int
	}{{SerLCD, 16, 2}, {SerLCD, 20, 4}, {PlainLines, 16, 2}, {PlainLines, 20, 4}} {
		name := fmt.Sprintf("%v-%dx%d", c.mode, c.cols, c.rows)
		t.Run(name, func(t *testing.T) {
			var got string
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				d, err := NewDisplay(w, DisplayOptions{Cols: c.cols, Rows: c.rows, Mode: c.mode})
				if err != nil {
					t.Fatal(err)
				}
				script(d)
				got = w.String()
			})
			path := filepath.Join("testdata", "display-"+name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to record)", err)
			}
			if got != string(want) {
				t.Errorf("byte stream differs from %s:\n got:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestDisplayPacing shows a new screen every millisecond for ten seconds:
// the port gets at most one write per MinInterval and at most half its
// speed in bytes.
func TestDisplayPacing(t *testing.T) {
	for _, mode := range []DisplayMode{SerLCD, PlainLines} {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			d, err := NewDisplay(w, DisplayOptions{Cols: 20, Rows: 4, Mode: mode, Baud: 2400})
			if err != nil {
				t.Fatal(err)
			}
			const span = 10 * time.Second
			for i := range int(span / time.Millisecond) {
				d.Show(fmt.Sprintf("%020d", i), fmt.Sprintf("%020d", i*7), fmt.Sprintf("%020d", i*13), fmt.Sprintf("%020d", i*31))
				time.Sleep(time.Millisecond)
			}
			d.Close()
			for i := 1; i < len(w.writes); i++ {
				if gap := w.writes[i].Sub(w.writes[i-1]); gap < 250*time.Millisecond {
					t.Errorf("%v: writes %d and %d only %v apart", mode, i-1, i, gap)
				}
			}
			// 2400 baud is 240 bytes/s; half of it over the span.
			if limit := 120 * int(span/time.Second+1); w.bytes > limit {
				t.Errorf("%v: %d bytes in %v, over %d", mode, w.bytes, span, limit)
			}
			if len(w.writes) < 5 {
				t.Errorf("%v: only %d writes in %v of changes", mode, len(w.writes), span)
			}
			t.Logf("%v at 2400 baud: %d writes, %d bytes for %d Show calls", mode, len(w.writes), w.bytes, span/time.Millisecond)
		})
	}
}

func TestDisplayScroll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err := NewDisplay(newWire(), DisplayOptions{Cols: 16, Rows: 2, ScrollPause: time.Second, ScrollStep: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		d.Show("REC 00:01:00", "! DISK FULL: 0 MB free") // 22 characters: 6 steps
		var seen []string
		for range 14 {
			seen = append(seen, d.Lines()[1])
			time.Sleep(500 * time.Millisecond)
		}
		want := []string{
			"! DISK FULL: 0 M", "! DISK FULL: 0 M", // rest at the start
			" DISK FULL: 0 MB", "DISK FULL: 0 MB ", "ISK FULL: 0 MB f", "SK FULL: 0 MB fr", "K FULL: 0 MB fre", " FULL: 0 MB free",
			" FULL: 0 MB free", " FULL: 0 MB free", // rest at the end
			"! DISK FULL: 0 M", "! DISK FULL: 0 M", " DISK FULL: 0 MB", "DISK FULL: 0 MB ",
		}
		if fmt.Sprintf("%q", seen) != fmt.Sprintf("%q", want) {
			t.Errorf("scroll:\n got %q\nwant %q", seen, want)
		}
		if got := d.Lines()[0]; got != "REC 00:01:00    " {
			t.Errorf("short line %q", got)
		}
	})
}

func TestDisplayConformance(t *testing.T) {
	for _, mode := range []DisplayMode{SerLCD, PlainLines} {
		for _, size := range [][2]int{{16, 2}, {20, 4}} {
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				d, err := NewDisplay(w, DisplayOptions{Cols: size[0], Rows: size[1], Mode: mode})
				if err != nil {
					t.Fatal(err)
				}
				if err := halcheck.CheckDisplay(d); err != nil {
					t.Fatalf("%v %dx%d: %v", mode, size[0], size[1], err)
				}
				if !w.closed {
					t.Error("Close did not close the port")
				}
			})
		}
	}
}

func TestDisplayGeometry(t *testing.T) {
	if _, err := NewDisplay(newWire(), DisplayOptions{Cols: 40, Rows: 2, Mode: SerLCD}); err == nil {
		t.Error("a 40x2 SerLCD was accepted")
	}
	if _, err := NewDisplay(newWire(), DisplayOptions{Cols: 0, Rows: 2}); err == nil {
		t.Error("0 columns accepted")
	}
	d, err := NewDisplay(newWire(), DisplayOptions{Cols: 40, Rows: 2, Mode: PlainLines})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := ParseDisplayMode("oled"); err == nil {
		t.Error(`display type "oled" accepted`)
	}
}

func TestDisplayWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.fail = errors.New("usb serial unplugged")
		d, err := NewDisplay(w, DisplayOptions{Cols: 16, Rows: 2, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		d.Show("one")
		// Between two of the writer's tries (every MinInterval, 250 ms),
		// and with the writer idle, so that "two" is never written.
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if err := d.Show("two"); err == nil || !strings.Contains(err.Error(), "unplugged") {
			t.Errorf("Show after a failed write: %v", err)
		}
		synctest.Wait()
		// Plugged back in: the display is set up again from scratch.
		w.mu.Lock()
		w.fail = nil
		w.mu.Unlock()
		d.Show("three")
		time.Sleep(time.Second)
		if err := d.Show("three"); err != nil {
			t.Errorf("Show after recovery: %v", err)
		}
		d.Close()
		if got := w.String(); !strings.Contains(got, `7c 04 7c 06 fe 01 fe 80 "three"`) {
			t.Errorf("after recovery the display was not set up again:\n%s", got)
		}
	})
}

func TestDisplayNoWritesWhenUnchanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		d, _ := NewDisplay(w, DisplayOptions{Cols: 16, Rows: 2})
		for range 100 {
			d.Show("IDLE 09:00", "Next 10:00 Maths")
			time.Sleep(100 * time.Millisecond)
		}
		d.Close()
		if len(w.writes) != 1 {
			t.Errorf("%d writes for one screen shown 100 times:\n%s", len(w.writes), w)
		}
		var b bytes.Buffer
		b.WriteString(w.String())
		if !strings.Contains(b.String(), `"IDLE 09:00"`) {
			t.Errorf("screen not written:\n%s", b.String())
		}
	})
}
