//go:build linux

package board

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/creack/pty"
)

// openPTY returns a pseudo-terminal: the master for the test, the slave's
// path for the port under test.
func openPTY(t *testing.T) (master io.ReadWriteCloser, path string) {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s.Name()
}

// TestConsoleOverPTY runs the hal console conformance check against the
// board's serial console on a pseudo-terminal: the same termios calls as
// on the Pi's UART (8N1, raw, read timeout).
func TestConsoleOverPTY(t *testing.T) {
	master, path := openPTY(t)
	c, err := OpenConsole(path, 115200)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != path {
		t.Errorf("Path %q", c.Path())
	}
	if err := halcheck.CheckConsole(c, master); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("Read after Close = %d, %v; want io.EOF", n, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConsoleBadPort(t *testing.T) {
	if _, err := OpenConsole("/nonexistent/ttyAMA0", 115200); err == nil || !strings.Contains(err.Error(), "/nonexistent/ttyAMA0") {
		t.Errorf("OpenConsole on a missing device: %v", err)
	}
	_, path := openPTY(t)
	if _, err := OpenConsole(path, 12345); err == nil {
		t.Error("an unknown speed was accepted")
	}
}

// TestDisplayOverPTY runs the hal display conformance check against the
// board's display on a pseudo-terminal and checks the bytes that reach
// the other end.
func TestDisplayOverPTY(t *testing.T) {
	for _, mode := range []DisplayMode{SerLCD, PlainLines} {
		t.Run(mode.String(), func(t *testing.T) {
			master, path := openPTY(t)
			// CheckDisplay's last screen is "line 0" to "line 5": rows 0-3 shown.
			want := []byte("\xfe\xd4line 3")
			if mode == PlainLines {
				want = []byte("line 0              \r\nline 1              \r\nline 2              \r\nline 3              \r\n")
			}
			got := make(chan []byte, 1)
			go func() {
				var b bytes.Buffer
				buf := make([]byte, 256)
				for {
					n, err := master.Read(buf)
					b.Write(buf[:n])
					if err != nil || bytes.Contains(b.Bytes(), want) {
						got <- b.Bytes()
						return
					}
				}
			}()
			d, err := OpenDisplay(path, DisplayOptions{Cols: 20, Rows: 4, Mode: mode, Baud: 9600, MinInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if err := halcheck.CheckDisplay(d); err != nil {
				t.Fatal(err)
			}
			var wire []byte
			select {
			case wire = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the last screen never reached the other end")
			}
			if !bytes.Contains(wire, want) {
				t.Errorf("%v: the last screen %q is not in what arrived: %q", mode, want, wire)
			}
			if mode == SerLCD && !bytes.HasPrefix(wire, []byte{0x7c, 0x03, 0x7c, 0x05, 0xfe, 0x01}) {
				t.Errorf("SerLCD set-up missing: % x", wire[:min(8, len(wire))])
			}
		})
	}
}
