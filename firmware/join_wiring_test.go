package firmware

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/config"
	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/hal/haltest"
)

// TestJoinFallsBackToParts: parts that cannot be joined into one file
// (the capture device changed its settings between them) are uploaded
// each on its own, titled "(part N)", rather than never; parts that can
// be joined become one upload whose description notes the gap.
func TestJoinFallsBackToParts(t *testing.T) {
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		second        int // the second part's frame width
		wantTitles    string
		wantGapInDesc bool
	}{
		{"same settings", 32, "ECON 101", true},
		{"other settings", 64, "ECON 101|ECON 101 (part 2)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cfg, err := config.Parse(withValues(t, string(raw), map[string]string{"box.data_dir": quoteTOML(data)}), exampleConfig)
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				dev := Devices{LED: haltest.NewFakeLED(nil), Button: haltest.NewFakeButton(nil),
					Capture: haltest.NewFakeCamera(haltest.CameraConfig{Width: 32, Height: 32, FPS: 2}), TimeSync: haltest.NewFakeTimeSync(true)}
				b, err := newBox(cfg, dev, Options{Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer b.recorder.Close()
				var ids []string
				for i, width := range []int{32, tc.second} {
					rec, err := capture.New(capture.Config{Dir: b.recDir, Source: haltest.NewFakeCamera(haltest.CameraConfig{Width: width, Height: 32, FPS: 2})})
					if err != nil {
						t.Fatal(err)
					}
					id := controller.RecordingID("7340000", i+1, time.Now())
					if _, err := rec.Start(id, capture.Meta{EventID: 7340000, Title: "ECON 101", Description: "Micro", Part: i + 1,
						Start: time.Now(), End: time.Now().Add(time.Hour)}); err != nil {
						t.Fatal(err)
					}
					time.Sleep(20 * time.Second)
					if _, err := rec.Stop(id); err != nil {
						t.Fatal(err)
					}
					if _, err := rec.Close(); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
					time.Sleep(time.Minute) // the gap
				}
				if err := b.join(controller.Rec{ID: controller.JoinedID(ids[0])}, ids); err != nil {
					t.Fatal(err)
				}
				var titles []string
				var desc string
				for _, it := range b.queue.Items() {
					titles = append(titles, it.Title)
				}
				if got := strings.Join(titles, "|"); got != tc.wantTitles {
					t.Errorf("queued %q, want %q", got, tc.wantTitles)
				}
				if sc, err := capture.ReadSidecar(b.recDir, controller.JoinedID(ids[0])); err == nil {
					desc = describe(sc.Meta.Description, sc.Meta.Gaps, sc.Notes(), time.UTC)
				}
				if strings.Contains(desc, "gap") != tc.wantGapInDesc {
					t.Errorf("joined description %q, want a gap noted: %v", desc, tc.wantGapInDesc)
				}
			})
		})
	}
}
