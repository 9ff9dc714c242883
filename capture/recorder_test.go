package capture_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// frame is the fake camera's frame period at 30 fps.
const frame = time.Second / 30

func newRecorder(t *testing.T, cam *haltest.FakeCamera, cfg capture.Config) *capture.Recorder {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	cfg.Source = cam
	r, err := capture.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTenSecondRecording(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		t0 := time.Now()
		if _, err := r.Start("lecture-1", capture.Meta{EventID: 42, Title: "Physics 1", Start: t0, End: t0.Add(time.Hour), Part: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10*time.Second - time.Millisecond) // between frames 299 and 300
		var err error
		res, err = r.Stop("lecture-1")
		if err != nil {
			t.Fatal(err)
		}
		if cam.IsOpen() {
			t.Error("the capture stream is still open after the last recording stopped")
		}
		if !res.Start.Equal(t0) || res.Duration != 10*time.Second || !res.End.Equal(t0.Add(10*time.Second)) {
			t.Errorf("result span %v..%v (%v), want %v..+10s", res.Start, res.End, res.Duration, t0)
		}
	})
	if res.Path != filepath.Join(dir, "lecture-1.mp4") {
		t.Fatalf("path %q", res.Path)
	}
	fi, err := os.Stat(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != res.Bytes {
		t.Errorf("file has %d bytes, result says %d", fi.Size(), res.Bytes)
	}
	if _, err := os.Stat(filepath.Join(dir, "lecture-1.part.mp4")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("part file still there: %v", err)
	}
	sc, err := capture.ReadSidecar(dir, "lecture-1")
	if err != nil {
		t.Fatal(err)
	}
	if sc.State != capture.StateClosed || sc.File != "lecture-1.mp4" || sc.Meta.EventID != 42 || sc.Meta.Title != "Physics 1" ||
		sc.Duration != 10*time.Second || len(sc.Parts) != 1 || sc.Bytes != res.Bytes {
		t.Errorf("sidecar %+v", sc)
	}
	samples, ts, err := capturetest.ReadSamples(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if ts != capture.Timescale || len(samples) != 300 || !samples[0].Key {
		t.Fatalf("%d samples at timescale %d, first key %v", len(samples), ts, len(samples) > 0 && samples[0].Key)
	}
	for i, s := range samples {
		if s.DecodeTime != uint64(i*3000) || s.Dur != 3000 {
			t.Fatalf("sample %d at %d for %d ticks, want %d for 3000", i, s.DecodeTime, s.Dur, i*3000)
		}
		if s.Key != (i%60 == 0) {
			t.Errorf("sample %d key %v", i, s.Key)
		}
	}
	info := capturetest.Probe(t, res.Path)
	t.Logf("%+v", info.Duration)
	if info.Codec != "h264" || info.Width != 160 || info.Height != 96 || info.Frames != 300 || math.Abs(info.Duration-10) > 0.001 {
		t.Errorf("ffprobe: %s %dx%d, %d frames, %.3f s; want h264 160x96, 300 frames, 10 s", info.Codec, info.Width, info.Height, info.Frames, info.Duration)
	}
}

// TestOverlappingRecordings records two overlapping events from one
// capture: each file spans its own start to its own end, the later one
// starts on a key frame requested mid-GOP, and the overlap holds the same
// frames in both.
func TestOverlappingRecordings(t *testing.T) {
	dir := t.TempDir()
	var a, b capture.Result
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		t0 = time.Now()
		if _, err := r.Start("a", capture.Meta{Title: "a"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Second + 10*time.Millisecond) // mid-GOP, between frames 90 and 91
		if _, err := r.Start("b", capture.Meta{Title: "b"}); err != nil {
			t.Fatal(err)
		}
		if got := len(r.Recordings()); got != 2 {
			t.Fatalf("%d recordings running, want 2", got)
		}
		time.Sleep(4 * time.Second) // to 7.01 s
		var err error
		if a, err = r.Stop("a"); err != nil {
			t.Fatal(err)
		}
		if !cam.IsOpen() {
			t.Fatal("the stream closed while b still records")
		}
		time.Sleep(3 * time.Second) // to 10.01 s
		if b, err = r.Stop("b"); err != nil {
			t.Fatal(err)
		}
		st := cam.Stats()
		if st.Opens != 1 || st.Closes != 1 || st.KeyRequests != 1 {
			t.Errorf("camera %+v, want one open, one close, one key-frame request", st)
		}
	})
	// a: frames 0..210 (t0 .. 7.0333 s); b: frames 91..300 (3.0333 .. 10.0333 s).
	if !a.Start.Equal(t0) || !a.End.Equal(t0.Add(211*frame+frame/3)) && !a.End.Equal(t0.Add(7*time.Second+frame)) {
		t.Errorf("a spans %v..%v", a.Start.Sub(t0), a.End.Sub(t0))
	}
	if want := t0.Add(91 * time.Second / 30); !b.Start.Equal(want) {
		t.Errorf("b starts at %v, want %v (the frame after Start)", b.Start.Sub(t0), want.Sub(t0))
	}
	if want := t0.Add(301 * time.Second / 30); b.End.Sub(want).Abs() > time.Microsecond {
		t.Errorf("b ends at %v, want %v", b.End.Sub(t0), want.Sub(t0))
	}
	sa, _, err := capturetest.ReadSamples(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	sb, _, err := capturetest.ReadSamples(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != 211 || len(sb) != 210 {
		t.Fatalf("a has %d samples, b %d; want 211 and 210", len(sa), len(sb))
	}
	if !sb[0].Key || sb[0].DecodeTime != 0 {
		t.Errorf("b's first sample: key %v at %d", sb[0].Key, sb[0].DecodeTime)
	}
	for i := range 120 { // the overlap: frames 91..210
		if string(sa[91+i].Data) != string(sb[i].Data) {
			t.Fatalf("frame %d differs between a and b", 91+i)
		}
	}
	for _, res := range []capture.Result{a, b} {
		info := capturetest.Probe(t, res.Path)
		if info.Codec != "h264" || info.Frames != 210+boolInt(res.ID == "a") || !info.Keys[0] {
			t.Errorf("%s: ffprobe %s, %d frames, first key %v", res.ID, info.Codec, info.Frames, info.Keys[0])
		}
		if math.Abs(info.Duration-res.Duration.Seconds()) > 0.001 {
			t.Errorf("%s: ffprobe says %.4f s, result %v", res.ID, info.Duration, res.Duration)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSignalLoss unplugs the input during a recording: health goes to
// no-signal and back, the recording stays open, resumes on a key frame
// once the signal returns, and the file has a hole as long as the outage.
func TestSignalLoss(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	var healths []capture.Health
	var t0 time.Time
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir, RetryInterval: 500 * time.Millisecond, OnHealth: func(h capture.Health) {
			mu.Lock()
			defer mu.Unlock()
			healths = append(healths, h)
		}})
		t0 = time.Now()
		if _, err := r.Start("lost", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Second - time.Millisecond) // frames 0..89
		cam.Unplug()
		time.Sleep(time.Millisecond)
		if h := r.Health(); h.Signal || !errors.Is(h.Err, hal.ErrNoSignal) {
			t.Errorf("health during the outage: %+v", h)
		}
		if st := r.Recordings(); len(st) != 1 || !st[0].Waiting || st[0].Frames != 90 {
			t.Errorf("status during the outage: %+v", st)
		}
		time.Sleep(1900 * time.Millisecond) // plugged back at 4.9 s, seen by the retry at 4.999 s
		cam.Plug()
		time.Sleep(3090 * time.Millisecond) // to 7.99 s
		var err error
		if res, err = r.Stop("lost"); err != nil {
			t.Fatal(err)
		}
		if h := r.Health(); !h.Signal {
			t.Errorf("health after the signal returned: %+v", h)
		}
	})
	if len(healths) != 3 || !healths[0].Signal || healths[1].Signal || !errors.Is(healths[1].Err, hal.ErrNoSignal) || !healths[2].Signal {
		t.Fatalf("health reports %+v, want ok, no-signal, ok", healths)
	}
	if got := healths[1].Since.Sub(t0); got != 3*time.Second-time.Millisecond {
		t.Errorf("no-signal reported at %v", got)
	}
	back := 4999 * time.Millisecond // retries every 500 ms from the loss at 2.999 s
	if got := healths[2].Since.Sub(t0); got != back {
		t.Errorf("signal back reported at %v, want %v", got, back)
	}
	want := []capture.Span{{Start: t0, End: t0.Add(3 * time.Second)}, {Start: t0.Add(back), End: t0.Add(back + 3*time.Second)}}
	if len(res.Parts) != 2 || !res.Parts[0].Start.Equal(want[0].Start) || !res.Parts[0].End.Equal(want[0].End) ||
		!res.Parts[1].Start.Equal(want[1].Start) || res.Parts[1].End.Sub(want[1].End).Abs() > time.Microsecond {
		t.Errorf("parts %v, want %v", res.Parts, want)
	}
	sc, err := capture.ReadSidecar(dir, "lost")
	if err != nil || len(sc.Parts) != 2 {
		t.Errorf("sidecar parts %v, %v", sc.Parts, err)
	}
	samples, _, err := capturetest.ReadSamples(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 180 || !samples[90].Key || samples[90].DecodeTime != 4999*capture.Timescale/1000 || samples[89].DecodeTime+uint64(samples[89].Dur) != 3*capture.Timescale {
		t.Fatalf("%d samples; around the gap: %+v / %+v", len(samples), samples[89].DecodeTime, samples[min(90, len(samples)-1)].DecodeTime)
	}
	info := capturetest.Probe(t, res.Path)
	if info.Frames != 180 || math.Abs(info.PTS[90]-4.999) > 0.001 || math.Abs(info.PTS[89]-89.0/30) > 0.001 || math.Abs(info.Duration-7.999) > 0.001 {
		t.Errorf("ffprobe: %d frames, pts %.3f then %.3f, duration %.3f; want 180 frames, a hole from 2.967 to 4.999, 7.999 s", info.Frames, info.PTS[89], info.PTS[90], info.Duration)
	}
}

// TestNoSignalNoMedia: a recording that never gets a signal ends with
// ErrNoMedia, an empty sidecar and no file.
func TestNoSignalNoMedia(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		cam.Unplug()
		var health []capture.Health
		r := newRecorder(t, cam, capture.Config{Dir: dir, OnHealth: func(h capture.Health) { health = append(health, h) }})
		if _, err := r.Start("dark", capture.Meta{Title: "nothing"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5500 * time.Millisecond)
		res, err := r.Stop("dark")
		if !errors.Is(err, capture.ErrNoMedia) || res.Path != "" || res.ID != "dark" {
			t.Fatalf("Stop = %+v, %v; want ErrNoMedia", res, err)
		}
		if len(health) != 1 || health[0].Signal || !errors.Is(health[0].Err, hal.ErrNoSignal) {
			t.Errorf("health %+v", health)
		}
		if st := cam.Stats(); st.NoSignalErrors != 6 { // at 0, 1, ..., 5 s
			t.Errorf("%d open attempts, want 6 (one a second)", st.NoSignalErrors)
		}
	})
	sc, err := capture.ReadSidecar(dir, "dark")
	if err != nil || sc.State != capture.StateEmpty || sc.File != "" || sc.Meta.Title != "nothing" {
		t.Errorf("sidecar %+v, %v", sc, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.mp4")); len(m) != 0 {
		t.Errorf("files %v", m)
	}
}

func TestStartStopErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		for _, id := range []string{"", ".hidden", "a/b", "../x", "sp ace", string(make([]byte, 129))} {
			if _, err := r.Start(id, capture.Meta{}); !errors.Is(err, capture.ErrInvalidID) {
				t.Errorf("Start(%q) = %v, want ErrInvalidID", id, err)
			}
		}
		if _, err := r.Stop("nope"); !errors.Is(err, capture.ErrUnknownRecording) {
			t.Errorf("Stop of an unknown id = %v", err)
		}
		if _, err := r.Start("x", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start("x", capture.Meta{}); !errors.Is(err, capture.ErrExists) {
			t.Errorf("second Start(x) = %v, want ErrExists", err)
		}
		time.Sleep(time.Second + time.Millisecond)
		if _, err := r.Stop("x"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start("x", capture.Meta{}); !errors.Is(err, capture.ErrExists) {
			t.Errorf("Start(x) over a closed recording = %v, want ErrExists", err)
		}
		// The stream reopens for the next recording.
		if _, err := r.Start("y", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second + time.Millisecond)
		if _, err := r.Start("z", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		results, err := r.Close()
		if err != nil || len(results) != 2 {
			t.Fatalf("Close = %d results, %v", len(results), err)
		}
		if _, err := r.Start("w", capture.Meta{}); !errors.Is(err, capture.ErrClosed) {
			t.Errorf("Start after Close = %v", err)
		}
		if st := cam.Stats(); st.Opens != 2 || st.Closes != 2 || cam.IsOpen() {
			t.Errorf("camera %+v, want two opens and closes", st)
		}
	})
}

// TestStopRightAfterStart: Stop and Start in quick succession reuse the
// source without a busy error.
func TestStopRightAfterStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		var health []capture.Health
		r := newRecorder(t, cam, capture.Config{OnHealth: func(h capture.Health) { health = append(health, h) }})
		for i := range 20 {
			id := "r" + string(rune('a'+i))
			if _, err := r.Start(id, capture.Meta{}); err != nil {
				t.Fatal(err)
			}
			if i%2 == 1 {
				time.Sleep(frame)
			}
			if _, err := r.Stop(id); err != nil && !errors.Is(err, capture.ErrNoMedia) {
				t.Fatal(err)
			}
		}
		for _, h := range health {
			if !h.Signal {
				t.Errorf("health %+v", h)
			}
		}
	})
}
