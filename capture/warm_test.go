package capture_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal/haltest"
)

// TestWarmUpStartsAtTheFirstFrame warms the capture up 15 s ahead of a
// start that falls between two frames and mid-GOP: the input is open
// before the start, and the file begins with the first frame at or after
// the start, a key frame forced for it.
func TestWarmUpStartsAtTheFirstFrame(t *testing.T) {
	dir := t.TempDir()
	var res capture.Result
	var start time.Time
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		t0 := time.Now()
		start = t0.Add(15*time.Second + 10*time.Millisecond) // between frames 450 and 451
		if err := r.Warm(start.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if !cam.IsOpen() || !r.Capturing() {
			t.Fatal("the input is not open a second into the warm-up")
		}
		time.Sleep(start.Sub(time.Now()))
		if _, err := r.Start("lecture", capture.Meta{Title: "warm", Start: start, End: start.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		var err error
		if res, err = r.Stop("lecture"); err != nil {
			t.Fatal(err)
		}
		if !cam.IsOpen() {
			t.Error("the input closed at the stop while the warm-up still holds it")
		}
		time.Sleep(time.Minute)
		if cam.IsOpen() {
			t.Error("the input is still open after the warm-up passed with nothing recording")
		}
		if st := cam.Stats(); st.Opens != 1 || st.Closes != 1 || st.KeyRequests != 1 {
			t.Errorf("camera %+v, want one open, one close, one key-frame request", st)
		}
	})
	first := res.Start
	if first.Before(start) || first.Sub(start) >= frame {
		t.Errorf("the file starts %v after the start, want the first frame at or after it (within %v)", first.Sub(start), frame)
	}
	t.Logf("first frame %v after the start", first.Sub(start))
	samples, _, err := capturetest.ReadSamples(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 || !samples[0].Key {
		t.Fatalf("%d samples, the first not a key frame", len(samples))
	}
	if info := capturetest.Probe(t, res.Path); info.Codec != "h264" || !info.Keys[0] {
		t.Errorf("ffprobe: %s, first key %v", info.Codec, info.Keys[0])
	}
}

// TestWarmUpWithoutRecording: a warm-up that no recording uses closes
// the input when it passes; Close ends one early; a closed recorder
// refuses to warm up.
func TestWarmUpWithoutRecording(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{})
		if err := r.Warm(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if err := r.Warm(time.Now().Add(10 * time.Second)); err != nil { // extended to 15 s
			t.Fatal(err)
		}
		time.Sleep(9 * time.Second)
		if !cam.IsOpen() {
			t.Fatal("the input closed before the extended warm-up passed")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if cam.IsOpen() || r.Capturing() {
			t.Fatal("the input is open after the warm-up passed")
		}
		if err := r.Warm(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if cam.IsOpen() {
			t.Error("Close left a warm input open")
		}
		if err := r.Warm(time.Now().Add(time.Hour)); err == nil {
			t.Error("a closed recorder warmed up")
		}
		if st := cam.Stats(); st.Opens != 2 || st.Closes != 2 || len(r.Recordings()) != 0 {
			t.Errorf("camera %+v, want two opens and closes", st)
		}
	})
}
