package firmware_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/firmware"
	"github.com/capturebox/capturebox/hal/haltest"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// TestLectureKilledTwice: one lecture, one entry (issue 16). The box is
// killed twice in the middle of a lecture (its data folder is what the
// disk held at that instant: no shutdown, no close, no state saved after)
// and started again each time a little later. The lecture reaches Kaltura
// as one READY entry, without "(part N)", whose file (ffprobe) plays for
// the time the three parts recorded, its two gaps in the description;
// nothing else is uploaded. When the box is back only after the event
// ended, the parts are joined at that start.
func TestLectureKilledTwice(t *testing.T) {
	t.Run("back during the lecture", func(t *testing.T) {
		lectureKilled(t, [2]time.Duration{75 * time.Minute, 95 * time.Minute}, [2]time.Duration{77 * time.Minute, 96 * time.Minute}, 57*time.Minute)
	})
	t.Run("back after the lecture", func(t *testing.T) {
		lectureKilled(t, [2]time.Duration{75 * time.Minute, 110 * time.Minute}, [2]time.Duration{77 * time.Minute, 150 * time.Minute}, 48*time.Minute)
	})
}

// lectureKilled kills the box at kill[i] and starts it again at back[i]
// during a lecture from +1h to +2h; want is the time recorded.
func lectureKilled(t *testing.T, kill, back [2]time.Duration, want time.Duration) {
	dir := t.TempDir()
	var entries []kalturasim.EntryInfo
	var joined string
	var parts []capture.Sidecar
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		logFile, err := os.Create(filepath.Join(dir, "box.log"))
		if err != nil {
			t.Fatal(err)
		}
		defer logFile.Close()
		log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
		w := newWorld(t, dir, log)
		defer w.sim.Close()
		if _, err := w.store.AddEvent(w.pid, simsched.Event{Summary: "MATH 120 Lecture", Description: "Calculus",
			StartDate: at(time.Hour).Unix(), EndDate: at(2 * time.Hour).Unix(), ResourceIDs: []int64{w.room.ID}, TemplateEntryID: w.tpl.ID}); err != nil {
			t.Fatal(err)
		}
		tr := &handlerTransport{h: w.sim}
		dev := firmware.Devices{LED: haltest.NewFakeLED(time.Now), Button: haltest.NewFakeButton(time.Now),
			Capture:  haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2, KeyInterval: 4}),
			TimeSync: haltest.NewFakeTimeSync(true)}
		opts := firmware.Options{Logger: log.With("who", "box"), HTTPClient: &http.Client{Transport: tr}, Seed: 11}
		start := func() (context.CancelFunc, chan error) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- firmware.Run(ctx, w.cfg, dev, opts) }()
			return cancel, done
		}
		// kill leaves the data folder as it is now: what the box does
		// after this instant (closing, saving) never reaches the disk.
		killBox := func(cancel context.CancelFunc, done chan error) {
			synctest.Wait()
			snap := w.cfg.Box.DataDir + ".snap"
			copyTree(t, w.cfg.Box.DataDir, snap)
			cancel()
			<-done
			if err := os.RemoveAll(w.cfg.Box.DataDir); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(snap, w.cfg.Box.DataDir); err != nil {
				t.Fatal(err)
			}
		}
		sleepUntil := func(d time.Duration) { time.Sleep(time.Until(at(d))) }

		cancel, done := start()
		for i := range kill {
			sleepUntil(kill[i])
			killBox(cancel, done)
			sleepUntil(back[i])
			cancel, done = start()
		}
		sleepUntil(4 * time.Hour)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
		for _, e := range w.sim.Entries() {
			if !e.Template {
				entries = append(entries, e)
			}
		}
		files, _ := filepath.Glob(filepath.Join(w.cfg.Recording.Dir, "*.json"))
		for _, f := range files {
			sc, err := capture.ReadSidecar(w.cfg.Recording.Dir, strings.TrimSuffix(filepath.Base(f), ".json"))
			if err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			switch {
			case sc.State == capture.StateJoined:
				parts = append(parts, sc)
			case sc.Uploadable():
				if joined != "" {
					t.Errorf("two recordings to upload: %s and %s", joined, sc.ID)
				}
				joined = filepath.Join(w.cfg.Recording.Dir, sc.File)
			}
		}
	})
	if t.Failed() {
		logTail(t, filepath.Join(dir, "box.log"))
		return
	}
	if len(entries) != 1 {
		t.Fatalf("%d entries in Kaltura, want one: %+v", len(entries), entries)
	}
	e := entries[0]
	if e.Status != 2 || e.Fields["name"] != "MATH 120 Lecture 1999-12-31" {
		t.Errorf("entry %s status %d name %q, want READY (2) \"MATH 120 Lecture 1999-12-31\"", e.ID, e.Status, e.Fields["name"])
	}
	if wantParts := 2 + int(btoi(back[1] < 2*time.Hour)); len(parts) != wantParts {
		t.Fatalf("%d parts joined, want %d (before, between and after the kills)", len(parts), wantParts)
	}
	if joined == "" || fileSHA256(t, joined) != e.ContentSHA256 {
		t.Fatalf("the entry's content is not the joined recording %q", joined)
	}
	if desc := e.Fields["description"]; !strings.HasPrefix(desc, "Calculus") || !strings.Contains(desc, "gap") {
		t.Errorf("description %q does not note the gaps", desc)
	}
	info := capturetest.Probe(t, joined)
	if info.Codec != "h264" || info.Frames == 0 {
		t.Errorf("ffprobe says %+v", info)
	}
	checkJoined(t, joined, parts, info)
	// The lecture less the time the box was off, less what each kill lost
	// (at most a fragment).
	if got := time.Duration(info.Duration * float64(time.Second)); got < want-2*time.Minute || got > want+time.Second {
		t.Errorf("the joined lecture plays %v, want about %v", got, want)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// copyTree copies the files under src to dst (a new folder).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
