package firmware_test

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
)

// TestWarmUpBeforeTheLecture: the box opens the capture recording.warmup
// before a scheduled start, and the lecture's file begins with the first
// frame at or after the start (the fake camera's frames fall 0.3 s after
// each half second, so the first one is 0.3 s in).
func TestWarmUpBeforeTheLecture(t *testing.T) {
	dir := t.TempDir()
	var start time.Time
	var sc capture.Sidecar
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.cfg.Recording.Warmup = 15*time.Second + 200*time.Millisecond
		w.lecture("PHYS 210 Lecture", 10*time.Minute, 20*time.Minute, nil)
		start = w.at(10 * time.Minute)
		w.start()
		w.until(10*time.Minute - 16*time.Second)
		if w.cam.IsOpen() {
			t.Error("the capture is open before the warm-up")
		}
		w.until(10*time.Minute - 15*time.Second)
		if !w.cam.IsOpen() {
			t.Error("the capture is not open 15 s before the start")
		}
		w.until(25 * time.Minute)
		if w.cam.IsOpen() {
			t.Error("the capture is still open after the lecture")
		}
		w.stop()
		names, err := filepath.Glob(filepath.Join(w.cfg.Recording.Dir, "*.json"))
		if err != nil || len(names) != 1 {
			t.Fatalf("recordings %v (%v), want one", names, err)
		}
		if sc, err = capture.ReadSidecar(w.cfg.Recording.Dir, strings.TrimSuffix(filepath.Base(names[0]), ".json")); err != nil {
			t.Fatal(err)
		}
	})
	if d := sc.MediaStart.Sub(start); d != 300*time.Millisecond {
		t.Errorf("the file begins %v after the start, want 300ms (the first frame at or after it)", d)
	}
}
