package capture_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
)

// Still is a picture of the open stream while something records, and says
// why not otherwise: nothing recording, no signal.
func TestRecorderStill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{Width: 64, Height: 48})
		r := newRecorder(t, cam, capture.Config{})
		if _, err := r.Still(t.Context()); !errors.Is(err, capture.ErrNotCapturing) {
			t.Fatalf("Still before any recording: %v, want ErrNotCapturing", err)
		}
		if _, err := r.Start("rec-1", capture.Meta{Title: "Still"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the stream is open, the camera waits for its next frame
		img, err := r.Still(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
			t.Errorf("still is %v, want 64x48", b)
		}
		cam.Unplug()
		synctest.Wait()
		if _, err := r.Still(t.Context()); !errors.Is(err, hal.ErrNoSignal) && !errors.Is(err, capture.ErrNotCapturing) {
			t.Errorf("Still without signal: %v, want no signal or not capturing", err)
		}
		if _, err := r.Stop("rec-1"); err != nil && !errors.Is(err, capture.ErrNoMedia) {
			t.Fatal(err)
		}
		if _, err := r.Still(t.Context()); !errors.Is(err, capture.ErrNotCapturing) {
			t.Errorf("Still after the last stop: %v, want ErrNotCapturing", err)
		}
	})
}
