package haltest_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// manualClock is a hand-driven clock.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

func TestFakeLEDTimeline(t *testing.T) {
	clk := newManualClock()
	t0 := clk.Now()
	led := haltest.NewFakeLED(clk.Now)
	steps := []hal.Pattern{hal.SlowBlink, hal.SlowBlink, hal.On, hal.Pattern(9), hal.On, hal.FastBlink}
	for _, p := range steps {
		err := led.Show(p)
		if p.Valid() != (err == nil) {
			t.Fatalf("Show(%v) = %v", p, err)
		}
		clk.Advance(time.Second)
	}
	led.Close()
	want := []haltest.LEDChange{
		{t0, hal.SlowBlink}, {t0.Add(2 * time.Second), hal.On}, {t0.Add(5 * time.Second), hal.FastBlink}, {t0.Add(6 * time.Second), hal.Off},
	}
	got := led.Timeline()
	if len(got) != len(want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || got[i].Pattern != want[i].Pattern {
			t.Fatalf("timeline %v, want %v", got, want)
		}
	}
	if led.Calls() != len(steps) || led.Pattern() != hal.Off || !led.Closed() {
		t.Errorf("calls %d, pattern %v, closed %v", led.Calls(), led.Pattern(), led.Closed())
	}
	if err := led.Show(hal.On); !errors.Is(err, haltest.ErrClosed) {
		t.Errorf("Show after Close = %v", err)
	}
}

func TestFakeButtonEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := haltest.NewFakeButton(nil)
		t0 := time.Now()
		b.Hold(300 * time.Millisecond)                 // press, recognised at release (0.3 s)
		b.Down()                                       // at 0.3 s
		time.Sleep(hal.DefaultLongPress + time.Second) // long press recognised at 2.3 s
		b.Up()                                         // at 3.3 s: nothing more
		b.SetLongPress(time.Second)
		b.Hold(1500 * time.Millisecond) // long press at 4.3 s
		b.Up()                          // stray edge, ignored
		want := []hal.ButtonEvent{
			{Kind: hal.Press, At: t0.Add(300 * time.Millisecond)},
			{Kind: hal.LongPress, At: t0.Add(2300 * time.Millisecond)},
			{Kind: hal.LongPress, At: t0.Add(4300 * time.Millisecond)},
		}
		for i, w := range want {
			select {
			case ev := <-b.Events():
				if ev.Kind != w.Kind || !ev.At.Equal(w.At) {
					t.Errorf("event %d: %v at %v, want %v at %v", i, ev.Kind, ev.At.Sub(t0), w.Kind, w.At.Sub(t0))
				}
			default:
				t.Fatalf("event %d missing", i)
			}
		}
		if len(b.Events()) != 0 {
			t.Errorf("%d extra events", len(b.Events()))
		}
		b.Close()
	})
}

func TestFakeButtonManualClock(t *testing.T) {
	clk := newManualClock()
	b := haltest.NewFakeButton(clk.Now)
	defer b.Close()
	b.Down()
	clk.Advance(2500 * time.Millisecond) // the runtime timer has not fired: Up measures the hold
	b.Up()
	ev := <-b.Events()
	if ev.Kind != hal.LongPress || !ev.At.Equal(clk.Now()) {
		t.Errorf("got %v at %v", ev.Kind, ev.At)
	}
}

func TestFakeButtonInjectAndOverflow(t *testing.T) {
	clk := newManualClock()
	b := haltest.NewFakeButton(clk.Now)
	for i := range 10 {
		if i == 3 {
			b.LongPress()
		} else {
			b.Press()
		}
		clk.Advance(time.Second)
	}
	if b.Dropped() != 2 || len(b.Log()) != 10 {
		t.Errorf("dropped %d, logged %d; want 2 and 10", b.Dropped(), len(b.Log()))
	}
	b.Close()
	b.Press() // ignored after Close
	var kinds []hal.ButtonKind
	for ev := range b.Events() {
		kinds = append(kinds, ev.Kind)
	}
	if len(kinds) != haltest.ButtonBuffer || kinds[3] != hal.LongPress || kinds[0] != hal.Press {
		t.Errorf("delivered %v", kinds)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFakeDisplay(t *testing.T) {
	clk := newManualClock()
	d := haltest.NewFakeDisplay(0, 0, clk.Now)
	if c, r := d.Size(); c != 16 || r != 2 {
		t.Fatalf("default size %dx%d", c, r)
	}
	if got := d.Lines(); got[0] != "                " || got[1] != got[0] {
		t.Errorf("blank screen %q", got)
	}
	d.Show("REC 00:12:05", "Physik I — Raum 3")
	clk.Advance(time.Second)
	d.Show("idle")
	h := d.History()
	if len(h) != 2 || h[0].Lines[1] != "Physik I ? Raum " || h[1].Lines[0] != "idle            " || !h[1].At.Equal(clk.Now()) {
		t.Errorf("history %q", h)
	}
	d.Close()
	if err := d.Show("x"); !errors.Is(err, haltest.ErrClosed) {
		t.Errorf("Show after Close = %v", err)
	}
}

func TestFakeConsole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := haltest.NewFakeConsole(nil)
		lines := make(chan string)
		go func() { // a tiny command loop
			defer close(lines)
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				lines <- string(buf[:n])
				c.Write([]byte("ok: " + string(buf[:n])))
			}
		}()
		c.Type("status\n")
		if got := <-lines; got != "status\n" {
			t.Errorf("read %q", got)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if got, err := c.Expect(ctx, "status"); err != nil || got != "ok: status" {
			t.Errorf("Expect = %q, %v", got, err)
		}
		if _, err := c.Expect(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Expect of missing text = %v", err)
		}
		c.Close()
		if _, ok := <-lines; ok {
			t.Error("reader still running after Close")
		}
		if c.Output() != "ok: status\n" || len(c.Writes()) != 1 {
			t.Errorf("output %q, %d writes", c.Output(), len(c.Writes()))
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, haltest.ErrClosed) {
			t.Errorf("Write after Close = %v", err)
		}
		if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("Read after Close = %d, %v", n, err)
		}
	})
}

func TestFakeTimeSync(t *testing.T) {
	ts := haltest.NewFakeTimeSync(false)
	ctx := context.Background()
	if ok, err := ts.Synchronized(ctx); ok || err != nil {
		t.Errorf("= %v, %v", ok, err)
	}
	ts.Set(true)
	if ok, err := ts.Synchronized(ctx); !ok || err != nil {
		t.Errorf("= %v, %v", ok, err)
	}
	boom := errors.New("chronyc failed")
	ts.SetErr(boom)
	if _, err := ts.Synchronized(ctx); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ts.Synchronized(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if ts.Calls() != 4 {
		t.Errorf("%d calls", ts.Calls())
	}
}

func TestFakeCameraSignalAndPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{FPS: 25})
		ctx := context.Background()
		t0 := time.Now()
		s, err := cam.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			smp, err := s.Next(ctx)
			if err != nil || !smp.At.Equal(t0.Add(time.Duration(i)*40*time.Millisecond)) || smp.Duration != 40*time.Millisecond {
				t.Fatalf("frame %d: %v at %v, %v", i, err, smp.At.Sub(t0), smp.Duration)
			}
			if !time.Now().Equal(smp.At) {
				t.Fatalf("frame %d delivered at %v, due %v", i, time.Now().Sub(t0), smp.At.Sub(t0))
			}
		}
		// A late reader loses frames.
		time.Sleep(time.Second)
		smp, _ := s.Next(ctx)
		if st := cam.Stats(); st.Dropped != 24 || !smp.At.Equal(t0.Add(time.Second+80*time.Millisecond)) {
			t.Errorf("after a 1 s stall: dropped %d, frame at %v", st.Dropped, smp.At.Sub(t0))
		}
		// Unplug wakes a waiting Next.
		errc := make(chan error)
		go func() { _, err := s.Next(ctx); errc <- err }()
		synctest.Wait()
		cam.Unplug()
		if err := <-errc; !errors.Is(err, hal.ErrNoSignal) {
			t.Fatalf("Next at unplug = %v", err)
		}
		if _, err := cam.Open(ctx); !errors.Is(err, hal.ErrNoSignal) {
			t.Errorf("Open while unplugged = %v", err)
		}
		time.Sleep(time.Second)
		cam.Plug()
		back := time.Now()
		smp, err = s.Next(ctx)
		if err != nil || !smp.Key || !smp.At.Equal(back) {
			t.Errorf("first frame after plug: %v, key %v at %v", err, smp.Key, smp.At.Sub(t0))
		}
		// Close wakes a waiting Next.
		go func() { _, err := s.Next(ctx); errc <- err }()
		synctest.Wait()
		s.Close()
		if err := <-errc; err != io.EOF {
			t.Errorf("Next at Close = %v", err)
		}
		boom := errors.New("v4l2: device busy")
		cam.SetOpenError(boom)
		if _, err := cam.Open(ctx); !errors.Is(err, boom) {
			t.Errorf("Open with an error set = %v", err)
		}
		if st := cam.Stats(); st.Opens != 1 || st.Closes != 1 || st.NoSignalErrors != 2 || st.Frames != 5 || st.KeyFrames != 2 {
			t.Errorf("stats %+v", st)
		}
	})
}

// BenchmarkFakeCamera1080p measures the fake camera's encoder at 1080p
// with IDR every 60 frames (frames are taken without pacing).
func BenchmarkFakeCamera1080p(b *testing.B) {
	for b.Loop() {
		benchFrames(b, 1920, 1080, 60)
	}
}

func benchFrames(b *testing.B, w, h, n int) {
	// A clock that moves one frame per reading keeps every frame due at
	// once, so the benchmark measures encoding only.
	var now time.Time
	clock := func() time.Time { now = now.Add(time.Second / 30); return now }
	cam := haltest.NewFakeCamera(haltest.CameraConfig{Width: w, Height: h, FPS: 30, Clock: clock})
	s, err := cam.Open(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bytes := 0
	for range n {
		smp, err := s.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(smp.Data)
	}
	b.SetBytes(int64(bytes))
}
