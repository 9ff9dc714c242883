package firmware_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/hal/haltest"
)

// A recording whose sidecar is damaged (its event id no longer parses) is
// a fault on the display and is kept on the box: it never reaches Kaltura
// without its event.
func TestDamagedSidecarIsKeptAndShown(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		recDir := w.cfg.Recording.Dir
		if err := os.MkdirAll(recDir, 0o755); err != nil {
			t.Fatal(err)
		}
		rec, err := capture.New(capture.Config{Dir: recDir, Source: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 2})})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if _, err := rec.Start("ev-4711", capture.Meta{EventID: 4711, Title: "Lecture", Start: t0, End: t0.Add(time.Hour), Part: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if _, err := rec.Stop("ev-4711"); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(recDir, "ev-4711.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Replace(b, []byte(`"eventId": 4711`), []byte(`"eventId": "47#1"`), 1)
		if bytes.Equal(bad, b) {
			t.Fatalf("no event id in\n%s", b)
		}
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}

		display := haltest.NewFakeDisplay(16, 2, time.Now)
		dev := firmware.Devices{LED: haltest.NewFakeLED(time.Now), Display: display, Button: haltest.NewFakeButton(time.Now),
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
		var mu sync.Mutex
		var uploaded []string
		w.cfg.Upload.MinFreeSpace = 0
		opts := firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}}, Seed: 11,
			OnUploaded: func(id, _ string) { mu.Lock(); uploaded = append(uploaded, id); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- firmware.Run(ctx, w.cfg, dev, opts) }()
		time.Sleep(10 * time.Minute)
		if got := display.Lines(); !strings.Contains(strings.Join(got, "|"), "BAD SIDECAR") {
			t.Errorf("display %q, want BAD SIDECAR", got)
		}
		mu.Lock()
		if len(uploaded) != 0 {
			t.Errorf("uploaded %v without its event", uploaded)
		}
		mu.Unlock()
		if _, err := os.Stat(filepath.Join(recDir, "ev-4711.mp4")); err != nil {
			t.Errorf("the recording is gone: %v", err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}
