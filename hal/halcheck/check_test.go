package halcheck_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/halcheck"
	"github.com/capturebox/capturebox/hal/haltest"
)

func TestChecksPassOnFakes(t *testing.T) {
	t.Run("LED", func(t *testing.T) {
		if err := halcheck.CheckLED(haltest.NewFakeLED(nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Button", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := haltest.NewFakeButton(nil)
			if err := halcheck.CheckButton(b, b.Hold); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("Display", func(t *testing.T) {
		for _, size := range [][2]int{{16, 2}, {20, 4}, {8, 1}} {
			if err := halcheck.CheckDisplay(haltest.NewFakeDisplay(size[0], size[1], nil)); err != nil {
				t.Fatalf("%dx%d: %v", size[0], size[1], err)
			}
		}
	})
	t.Run("Console", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := haltest.NewFakeConsole(nil)
			if err := halcheck.CheckConsole(c, c.Peer()); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("CaptureSource", func(t *testing.T) {
		for _, cfg := range []haltest.CameraConfig{{}, {Width: 320, Height: 180, FPS: 25}, {FPS: 60, KeyInterval: 1}} {
			synctest.Test(t, func(t *testing.T) {
				if err := halcheck.CheckCaptureSource(haltest.NewFakeCamera(cfg)); err != nil {
					t.Fatalf("%+v: %v", cfg, err)
				}
			})
		}
	})
}

// --- broken LEDs ---

type brokenLED struct {
	mu            sync.Mutex
	p             hal.Pattern
	closed        bool
	acceptInvalid bool // Show of an unknown pattern returns nil
	invalidOff    bool // an unknown pattern switches the LED off
	showAfter     bool // Show after Close succeeds
	closeKeeps    bool // Close leaves the pattern on
	closeTwiceErr bool // a second Close fails
}

func (l *brokenLED) Show(p hal.Pattern) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed && !l.showAfter {
		return errors.New("closed")
	}
	if !p.Valid() {
		if l.invalidOff {
			l.p = hal.Off
		}
		if l.acceptInvalid {
			return nil
		}
		return hal.ErrInvalidPattern
	}
	if !l.closed {
		l.p = p
	}
	return nil
}

func (l *brokenLED) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed && l.closeTwiceErr {
		return errors.New("already closed")
	}
	l.closed = true
	if !l.closeKeeps {
		l.p = hal.Off
	}
	return nil
}

func (l *brokenLED) Pattern() hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

func TestCheckLEDFails(t *testing.T) {
	for name, led := range map[string]*brokenLED{
		"accepts invalid":    {acceptInvalid: true},
		"invalid turns off":  {invalidOff: true},
		"show after close":   {showAfter: true},
		"close keeps on":     {closeKeeps: true},
		"second close fails": {closeTwiceErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := halcheck.CheckLED(led); err == nil {
				t.Fatal("CheckLED passed a broken LED")
			} else {
				t.Log(err)
			}
		})
	}
	if err := halcheck.CheckLED(&brokenLED{}); err != nil {
		t.Fatalf("the unbroken control LED fails: %v", err)
	}
}

// --- broken buttons ---

// rawButton is a button driver written from scratch, with faults to order.
type rawButton struct {
	ch          chan hal.ButtonEvent
	longAtUp    bool // long press recognised only at release
	pressAfter  bool // a Press follows the LongPress
	noCloseChan bool // Close does not close the channel
	lossy       bool // drops gestures the reader has not taken
	mu          sync.Mutex
	down        time.Time
	timer       *time.Timer
	longSent    bool
	closed      bool
}

func newRawButton(buffer int) *rawButton { return &rawButton{ch: make(chan hal.ButtonEvent, buffer)} }

func (b *rawButton) Events() <-chan hal.ButtonEvent { return b.ch }

func (b *rawButton) send(k hal.ButtonKind) {
	if b.lossy && len(b.ch) > 0 {
		return
	}
	select {
	case b.ch <- hal.ButtonEvent{Kind: k, At: time.Now()}:
	default:
	}
}

func (b *rawButton) hold(d time.Duration) {
	b.mu.Lock()
	b.down, b.longSent = time.Now(), false
	if !b.longAtUp {
		b.timer = time.AfterFunc(hal.DefaultLongPress, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.longSent = true
			b.send(hal.LongPress)
		})
	}
	b.mu.Unlock()
	time.Sleep(d)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
	}
	switch {
	case b.longSent && b.pressAfter:
		b.send(hal.Press)
	case b.longSent:
	case time.Since(b.down) >= hal.DefaultLongPress:
		b.send(hal.LongPress)
	default:
		b.send(hal.Press)
	}
}

func (b *rawButton) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed && !b.noCloseChan {
		close(b.ch)
	}
	b.closed = true
	return nil
}

func TestCheckButtonFails(t *testing.T) {
	for name, mk := range map[string]func() *rawButton{
		"long press at release":  func() *rawButton { b := newRawButton(8); b.longAtUp = true; return b },
		"press after long press": func() *rawButton { b := newRawButton(8); b.pressAfter = true; return b },
		"close keeps channel":    func() *rawButton { b := newRawButton(8); b.noCloseChan = true; return b },
		"buffer of 4":            func() *rawButton { return newRawButton(4) },
		"drops unread":           func() *rawButton { b := newRawButton(8); b.lossy = true; return b },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := mk()
				if err := halcheck.CheckButton(b, b.hold); err == nil {
					t.Fatal("CheckButton passed a broken button")
				} else {
					t.Log(err)
				}
			})
		})
	}
	synctest.Test(t, func(t *testing.T) {
		b := newRawButton(8)
		if err := halcheck.CheckButton(b, b.hold); err != nil {
			t.Fatalf("the unbroken control button fails: %v", err)
		}
	})
}

// --- broken displays ---

type brokenDisplay struct {
	lines     []string
	render    func(lines []string) []string
	showAfter bool
	closed    bool
}

func (d *brokenDisplay) Size() (int, int) { return 16, 2 }
func (d *brokenDisplay) Show(lines ...string) error {
	if d.closed && !d.showAfter {
		return errors.New("closed")
	}
	d.lines = d.render(lines)
	return nil
}
func (d *brokenDisplay) Close() error    { d.closed = true; return nil }
func (d *brokenDisplay) Lines() []string { return d.lines }

func TestCheckDisplayFails(t *testing.T) {
	good := func(lines []string) []string { return halcheck.RenderDisplay(16, 2, lines...) }
	for name, d := range map[string]*brokenDisplay{
		"no padding": {render: func(lines []string) []string {
			out := good(lines)
			for i := range out {
				out[i] = strings.TrimRight(out[i], " ")
			}
			return out
		}},
		"non-ASCII passes": {render: func(lines []string) []string {
			out := make([]string, 2)
			for i := range out {
				if i < len(lines) {
					out[i] = lines[i]
				}
				r := []rune(out[i] + strings.Repeat(" ", 16))
				out[i] = string(r[:16])
			}
			return out
		}},
		"byte-wise cut": {render: func(lines []string) []string {
			out := good(nil)
			for i := range out {
				if i < len(lines) {
					s := (lines[i] + strings.Repeat(" ", 16))[:16]
					out[i] = strings.Map(func(r rune) rune {
						if r < 0x20 || r > 0x7e {
							return '?'
						}
						return r
					}, s)
				}
			}
			return out
		}},
		"show after close": {render: good, showAfter: true},
	} {
		t.Run(name, func(t *testing.T) {
			if err := halcheck.CheckDisplay(d); err == nil {
				t.Fatal("CheckDisplay passed a broken display")
			} else {
				t.Log(err)
			}
		})
	}
	if err := halcheck.CheckDisplay(&brokenDisplay{render: good}); err != nil {
		t.Fatalf("the unbroken control display fails: %v", err)
	}
}

// --- broken consoles ---

// brokenConsole wraps a FakeConsole with faults.
type brokenConsole struct {
	*haltest.FakeConsole
	eatCR      bool          // Read drops carriage returns
	closeHangs bool          // Close does not release a pending Read
	writeAfter bool          // Write after Close succeeds
	release    chan struct{} // closed by the test to free a hung Read
	mu         sync.Mutex
	closed     bool
}

func (c *brokenConsole) Read(p []byte) (int, error) {
	c.mu.Lock()
	hang := c.closeHangs
	c.mu.Unlock()
	if hang {
		// Emulate a driver whose Read ignores Close: wait for the test.
		type res struct {
			n   int
			err error
		}
		done := make(chan res, 1)
		go func() { n, err := c.FakeConsole.Read(p); done <- res{n, err} }()
		select {
		case r := <-done:
			if r.err == nil {
				return r.n, nil
			}
			<-c.release
			return 0, io.EOF
		case <-c.release:
			return 0, io.EOF
		}
	}
	n, err := c.FakeConsole.Read(p)
	if c.eatCR {
		n = copy(p, strings.ReplaceAll(string(p[:n]), "\r", ""))
	}
	return n, err
}

func (c *brokenConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed && c.writeAfter {
		return len(p), nil
	}
	return c.FakeConsole.Write(p)
}

func (c *brokenConsole) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.FakeConsole.Close()
}

func TestCheckConsoleFails(t *testing.T) {
	for name, mk := range map[string]func(*haltest.FakeConsole) *brokenConsole{
		"eats CR":           func(f *haltest.FakeConsole) *brokenConsole { return &brokenConsole{FakeConsole: f, eatCR: true} },
		"close hangs reads": func(f *haltest.FakeConsole) *brokenConsole { return &brokenConsole{FakeConsole: f, closeHangs: true} },
		"write after close": func(f *haltest.FakeConsole) *brokenConsole { return &brokenConsole{FakeConsole: f, writeAfter: true} },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := haltest.NewFakeConsole(nil)
				c := mk(f)
				c.release = make(chan struct{})
				defer close(c.release)
				if err := halcheck.CheckConsole(c, f.Peer()); err == nil {
					t.Fatal("CheckConsole passed a broken console")
				} else {
					t.Log(err)
				}
			})
		})
	}
}

// --- broken capture sources ---

type brokenSource struct {
	cam, spare *haltest.FakeCamera
	fault      string
}

func (b *brokenSource) Open(ctx context.Context) (hal.Stream, error) {
	s, err := b.cam.Open(ctx)
	if err != nil && b.fault == "double open" && errors.Is(err, haltest.ErrBusy) {
		s, err = b.spare.Open(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &brokenStream{Stream: s, fault: b.fault}, nil
}

type brokenStream struct {
	hal.Stream
	fault  string
	n      int
	closed bool
}

func (s *brokenStream) RequestKeyFrame() {
	if s.fault != "ignores key request" {
		s.Stream.RequestKeyFrame()
	}
}

func (s *brokenStream) Close() error { s.closed = true; return s.Stream.Close() }

func (s *brokenStream) Next(ctx context.Context) (hal.Sample, error) {
	if s.fault == "nil after close" && s.closed {
		return hal.Sample{}, nil
	}
	if s.fault == "ignores context" {
		ctx = context.Background()
	}
	smp, err := s.Stream.Next(ctx)
	if err != nil {
		return smp, err
	}
	s.n++
	switch s.fault {
	case "first not key":
		if s.n == 1 {
			smp, err = s.Stream.Next(ctx)
		}
	case "all marked key":
		smp.Key = true
	case "time goes back":
		if s.n == 3 {
			smp.At = smp.At.Add(-time.Hour)
		}
	case "wrong codec":
		smp.Codec = "H.264"
	case "no duration":
		smp.Duration = 0
	case "key without parameter sets":
		if smp.Key {
			i := strings.Index(string(smp.Data), "\x00\x00\x00\x01\x65")
			smp.Data = smp.Data[i:]
		}
	}
	return smp, err
}

func TestCheckCaptureSourceFails(t *testing.T) {
	for _, fault := range []string{
		"double open", "ignores key request", "nil after close", "ignores context",
		"first not key", "all marked key", "time goes back", "wrong codec", "no duration",
		"key without parameter sets",
	} {
		t.Run(fault, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &brokenSource{cam: haltest.NewFakeCamera(haltest.CameraConfig{}), spare: haltest.NewFakeCamera(haltest.CameraConfig{}), fault: fault}
				if err := halcheck.CheckCaptureSource(src); err == nil {
					t.Fatal("CheckCaptureSource passed a broken source")
				} else {
					t.Log(err)
				}
			})
		})
	}
	t.Run("unplugged", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cam := haltest.NewFakeCamera(haltest.CameraConfig{})
			cam.Unplug()
			err := halcheck.CheckCaptureSource(cam)
			if !errors.Is(err, hal.ErrNoSignal) {
				t.Fatalf("CheckCaptureSource on an unplugged camera = %v, want hal.ErrNoSignal", err)
			}
		})
	})
	synctest.Test(t, func(t *testing.T) {
		src := &brokenSource{cam: haltest.NewFakeCamera(haltest.CameraConfig{})}
		if err := halcheck.CheckCaptureSource(src); err != nil {
			t.Fatalf("the unbroken control source fails: %v", err)
		}
	})
}
