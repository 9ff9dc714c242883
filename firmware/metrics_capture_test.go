package firmware

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
)

// While a recording runs, the scrape carries its frame rate and the frames
// it lost (none from the fake camera at 2 fps).
func TestMetricsCapture(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := testBox(t)
		if _, err := b.recorder.Start("r1", capture.Meta{Title: "metrics"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		fams, err := b.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, f := range fams {
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "r1" {
					got[f.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
		if fps, ok := got["capturebox_capture_fps"]; !ok || fps < 1.9 || fps > 2.1 {
			t.Errorf("capturebox_capture_fps = %v (%v), want 2", fps, ok)
		}
		if d, ok := got["capturebox_capture_dropped_frames"]; !ok || d != 0 {
			t.Errorf("capturebox_capture_dropped_frames = %v (%v), want 0", d, ok)
		}
		if _, err := b.recorder.Stop("r1"); err != nil {
			t.Fatal(err)
		}
	})
}
