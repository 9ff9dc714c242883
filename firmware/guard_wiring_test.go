package firmware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/hal/haltest"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// guardBox runs the box with cfg changed by tune, records one ad-hoc
// recording with the button and lets it reach Kaltura; check runs while
// the box still runs, with the recording's id.
func guardBox(t *testing.T, tune func(*config.Config), check func(t *testing.T, id string, display *haltest.FakeDisplay)) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		tune(w.cfg)
		display := haltest.NewFakeDisplay(16, 2, time.Now)
		button := haltest.NewFakeButton(time.Now)
		dev := firmware.Devices{LED: haltest.NewFakeLED(time.Now), Display: display, Button: button,
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
		var mu sync.Mutex
		var uploaded []string
		opts := firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}}, Seed: 9,
			OnUploaded: func(id, _ string) { mu.Lock(); uploaded = append(uploaded, id); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- firmware.Run(ctx, w.cfg, dev, opts) }()
		time.Sleep(5 * time.Second)
		button.Press()
		time.Sleep(30 * time.Second)
		button.Press()
		time.Sleep(10 * time.Minute)
		mu.Lock()
		got := append([]string(nil), uploaded...)
		mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("uploaded %v, want one recording", got)
		}
		check(t, got[0], display)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}

func recordingFiles(t *testing.T, dir, id string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), id) {
			out = append(out, e.Name())
		}
	}
	return out
}

// upload.retention: an uploaded recording stays for the retention period,
// then the disk guard deletes it and the upload queue forgets it.
func TestRetentionDeletesUploadedRecording(t *testing.T) {
	var recDir, queueDir string
	guardBox(t, func(c *config.Config) {
		c.Upload.Retention = time.Hour
		c.Upload.MinFreeSpace = 0
		recDir, queueDir = c.Recording.Dir, filepath.Join(c.Box.DataDir, "queue")
	}, func(t *testing.T, id string, _ *haltest.FakeDisplay) {
		if files := recordingFiles(t, recDir, id); len(files) != 2 {
			t.Fatalf("right after the upload: %v, want the file and its sidecar", files)
		}
		time.Sleep(time.Hour + 2*time.Minute)
		if files := recordingFiles(t, recDir, id); len(files) != 0 {
			t.Errorf("after the retention: %v still there", files)
		}
		if items, _ := filepath.Glob(filepath.Join(queueDir, "item-*.json")); len(items) != 0 {
			t.Errorf("the queue still holds %v", items)
		}
	})
}

// upload.min_free_space: with more asked than the disk has, the uploaded
// recording goes at once (its retention notwithstanding) and the display
// says the disk is full.
func TestMinFreeSpaceDeletesAndShowsFault(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(t.TempDir(), &st); err != nil || int64(st.Bavail)*int64(st.Bsize) >= int64(config.TiB) {
		t.Skip("the test disk has 1 TiB free or more: min_free_space cannot exceed it")
	}
	var recDir string
	guardBox(t, func(c *config.Config) {
		c.Upload.Retention = 7 * 24 * time.Hour
		c.Upload.MinFreeSpace = config.TiB
		recDir = c.Recording.Dir
	}, func(t *testing.T, id string, display *haltest.FakeDisplay) {
		time.Sleep(2 * time.Minute) // the guard checks every minute
		if files := recordingFiles(t, recDir, id); len(files) != 0 {
			t.Errorf("low space: %v still there", files)
		}
		if got := display.Lines(); !strings.Contains(strings.Join(got, "|"), "DISK FULL") {
			t.Errorf("display %q, want DISK FULL", got)
		}
	})
}

// Is there room (design.md §2, issue 16): before a scheduled lecture
// starts the box asks the disk guard whether the whole lecture fits. When
// it does not, the lecture still records, into what space there is, and
// the reason is on the display (and the LED blinks fast) from the start;
// the fault clears when that recording ends, and the lecture reaches
// Kaltura.
func TestNoRoomForLectureRecordsAndShowsFault(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(t.TempDir(), &st); err != nil || int64(st.Bavail)*int64(st.Bsize) >= int64(config.TiB) {
		t.Skip("the test disk has 1 TiB free or more: min_free_space cannot exceed it")
	}
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		w.cfg.Upload.MinFreeSpace = config.TiB // no lecture fits
		t0 := time.Now()
		if _, err := w.store.AddEvent(w.pid, simsched.Event{Summary: "ECON 101", StartDate: t0.Add(10 * time.Minute).Unix(),
			EndDate: t0.Add(40 * time.Minute).Unix(), ResourceIDs: []int64{w.room.ID}, TemplateEntryID: w.tpl.ID}); err != nil {
			t.Fatal(err)
		}
		display := haltest.NewFakeDisplay(16, 2, time.Now)
		led := haltest.NewFakeLED(time.Now)
		dev := firmware.Devices{LED: led, Display: display, Button: haltest.NewFakeButton(time.Now),
			Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
		var mu sync.Mutex
		var uploaded []string
		opts := firmware.Options{Logger: log, HTTPClient: &http.Client{Transport: &handlerTransport{h: w.sim}}, Seed: 5,
			OnUploaded: func(id, _ string) { mu.Lock(); uploaded = append(uploaded, id); mu.Unlock() }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- firmware.Run(ctx, w.cfg, dev, opts) }()

		time.Sleep(time.Until(t0.Add(9 * time.Minute)))
		if got := strings.Join(display.Lines(), "|"); strings.Contains(got, "NO ROOM") {
			t.Errorf("display %q before the lecture", got)
		}
		time.Sleep(time.Until(t0.Add(10*time.Minute + time.Second)))
		got := display.Lines()
		if !strings.HasPrefix(got[0], "REC") || !strings.Contains(got[1], "NO ROOM") {
			t.Errorf("display %q at the start, want REC and NO ROOM FOR LECTURE", got)
		}
		if led.Pattern() != hal.FastBlink {
			t.Errorf("LED %v without room for the lecture, want fast blink", led.Pattern())
		}
		time.Sleep(time.Until(t0.Add(time.Hour)))
		if got := strings.Join(display.Lines(), "|"); strings.Contains(got, "NO ROOM") {
			t.Errorf("display %q after the lecture ended: the fault stays", got)
		}
		mu.Lock()
		got = append([]string(nil), uploaded...)
		mu.Unlock()
		if len(got) != 1 || !strings.HasPrefix(got[0], "7340000-p1") {
			t.Errorf("uploaded %v, want the lecture", got)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}
