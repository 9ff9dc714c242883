package firmware_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestBlackPictureInDescription: the projector's source goes black for two
// minutes in the middle of a lecture; the Kaltura entry's description says
// when, in the box's local time.
func TestBlackPictureInDescription(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w := newWhyWorld(t, dir)
		w.lecture("HIST 120", 10*time.Minute, 30*time.Minute, nil)
		w.start()
		w.until(15*time.Minute + 100*time.Millisecond) // between two frames
		w.cam.SetBlack(true)
		w.until(17*time.Minute + 100*time.Millisecond)
		w.cam.SetBlack(false)
		w.until(time.Hour)
		w.stop()
		var desc []string
		for _, e := range w.sim.Entries() {
			if !e.Template {
				desc = append(desc, e.Fields["description"])
			}
		}
		loc := w.cfg.Box.Location()
		want := "- " + w.at(15*time.Minute).In(loc).Format("15:04:05") + " to " + w.at(17*time.Minute).In(loc).Format("15:04:05 MST") + " (2m0s black)"
		if len(desc) != 1 || !strings.Contains(desc[0], "The picture is black for a while") || !strings.Contains(desc[0], want) {
			t.Errorf("entry descriptions %q, want one noting %q", desc, want)
		}
	})
}
