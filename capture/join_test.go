package capture_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal/haltest"
)

// recordParts records the parts of event 7 (10 s, 7 s and 4 s, with gaps
// of 5 s and 8 s between them) and one recording of event 8.
func recordParts(t *testing.T, dir string) (t0 time.Time) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		t0 = time.Now()
		meta := capture.Meta{EventID: 7, Title: "Lecture", Start: t0, End: t0.Add(time.Hour), ResourceIDs: []int64{58}}
		rec := func(id string, part int, d, gapAfter time.Duration) {
			m := meta
			m.Part = part
			if id == "other" {
				m.EventID = 8
			}
			if _, err := r.Start(id, m); err != nil {
				t.Fatal(err)
			}
			time.Sleep(d - time.Millisecond)
			if _, err := r.Stop(id); err != nil {
				t.Fatal(err)
			}
			time.Sleep(gapAfter + time.Millisecond)
		}
		rec("p1", 1, 10*time.Second, 5*time.Second)
		rec("p2", 2, 7*time.Second, 8*time.Second)
		rec("p3", 3, 4*time.Second, time.Second)
		rec("other", 1, 2*time.Second, 0)
	})
	return t0
}

// TestJoin: one lecture, one entry. The parts' fragments are concatenated
// into one file whose timeline runs on from part to part, so its duration is
// the recorded time; the gaps are in the metadata; ffprobe decodes it
// without an error.
func TestJoin(t *testing.T) {
	dir := t.TempDir()
	t0 := recordParts(t, dir)
	res, err := capture.Join(dir, []string{"p3", "p1", "p2"}, "ev7")
	if err != nil {
		t.Fatal(err)
	}
	if res.Duration != 21*time.Second || !res.Start.Equal(t0) {
		t.Errorf("joined duration %v from %v, want 21 s from %v", res.Duration, res.Start, t0)
	}
	wantGaps := []capture.Span{{Start: t0.Add(10 * time.Second), End: t0.Add(15 * time.Second)}, {Start: t0.Add(22 * time.Second), End: t0.Add(30 * time.Second)}}
	if len(res.Meta.Gaps) != 2 || !res.Meta.Gaps[0].Start.Equal(wantGaps[0].Start) || !res.Meta.Gaps[0].End.Equal(wantGaps[0].End) ||
		!res.Meta.Gaps[1].Start.Equal(wantGaps[1].Start) || !res.Meta.Gaps[1].End.Equal(wantGaps[1].End) {
		t.Errorf("gaps %v, want %v", res.Meta.Gaps, wantGaps)
	}
	if res.Meta.EventID != 7 || res.Meta.Part != 1 || !slices.Equal(res.Meta.ResourceIDs, []int64{58}) {
		t.Errorf("meta %+v", res.Meta)
	}
	samples, ts, err := capturetest.ReadSamples(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	if ts != capture.Timescale || len(samples) != 630 {
		t.Fatalf("%d samples, want 630 (21 s at 30 fps)", len(samples))
	}
	for i, s := range samples {
		if s.DecodeTime != uint64(i*3000) {
			t.Fatalf("sample %d at %d, want %d: the timeline does not run on", i, s.DecodeTime, i*3000)
		}
	}
	for _, i := range []int{0, 300, 510} { // each part starts with a key frame
		if !samples[i].Key {
			t.Errorf("sample %d (start of a part) is not a key frame", i)
		}
	}
	info := capturetest.Probe(t, res.Path) // fails on any decoding error
	if info.Frames != 630 || math.Abs(info.Duration-21) > 0.001 {
		t.Errorf("ffprobe: %d frames, %.3f s; want 630 frames, 21 s", info.Frames, info.Duration)
	}
	// The parts are kept for the disk guard but no longer uploadable; the
	// joined recording is.
	for _, id := range []string{"p1", "p2", "p3"} {
		sc, err := capture.ReadSidecar(dir, id)
		if err != nil || sc.State != capture.StateJoined || sc.JoinedInto != "ev7" || sc.Uploadable() {
			t.Errorf("part %s: %+v, %v", id, sc, err)
		}
	}
	sc, err := capture.ReadSidecar(dir, "ev7")
	if err != nil || !sc.Uploadable() || !slices.Equal(sc.JoinedFrom, []string{"p1", "p2", "p3"}) || sc.Bytes != res.Bytes {
		t.Errorf("joined sidecar %+v, %v", sc, err)
	}
	if fi, err := os.Stat(res.Path); err != nil || fi.Size() != res.Bytes {
		t.Errorf("file %v, %v; result says %d bytes", fi, err, res.Bytes)
	}
	if _, err := capture.Join(dir, []string{"p1"}, "ev7"); !errors.Is(err, capture.ErrExists) {
		t.Errorf("joining into an existing recording: %v", err)
	}
	// The disk guard keeps the parts until the joined recording is in
	// Kaltura, then deletes them with it.
	up := &fakeUploads{at: map[string]time.Time{}}
	g, err := capture.NewGuard(capture.GuardConfig{Dir: dir, Uploads: up, FreeSpace: func(string) (int64, error) { return 1 << 40, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := g.Check(); err != nil || len(d.Delete) != 0 {
		t.Errorf("before the upload the guard deleted %v, %v", d.Delete, err)
	}
	up.set("ev7", t0)
	d, err := g.Check()
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, x := range d.Delete {
		deleted = append(deleted, x.ID)
	}
	if slices.Sort(deleted); !slices.Equal(deleted, []string{"ev7", "p1", "p2", "p3"}) {
		t.Errorf("after the upload the guard deleted %v, want the joined recording and its parts", deleted)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.mp4")); err != nil {
		t.Errorf("the recording of another event, not uploaded, is gone: %v", err)
	}
}

func TestJoinRefuses(t *testing.T) {
	dir := t.TempDir()
	recordParts(t, dir)
	if _, err := capture.Join(dir, []string{"p1", "other"}, "mix"); !errors.Is(err, capture.ErrCannotJoin) {
		t.Errorf("two events: %v, want ErrCannotJoin", err)
	}
	if _, err := capture.Join(dir, []string{"p1", "p1"}, "twice"); !errors.Is(err, capture.ErrCannotJoin) {
		t.Errorf("a part twice (overlap): %v, want ErrCannotJoin", err)
	}
	if _, err := capture.Join(dir, []string{"p1", "nope"}, "missing"); err == nil {
		t.Error("a missing part joined")
	}
	// Nothing was changed by the refusals.
	for _, id := range []string{"p1", "p2", "other"} {
		if sc, err := capture.ReadSidecar(dir, id); err != nil || !sc.Uploadable() {
			t.Errorf("%s after refusals: %+v, %v", id, sc, err)
		}
	}
	for _, id := range []string{"mix", "twice", "missing"} {
		if _, err := os.Stat(filepath.Join(dir, id+".mp4")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s.mp4 left behind: %v", id, err)
		}
	}
}

// A crash after the parts were marked joined but before the joined
// recording's sidecar was written: Recover closes the parts again, so
// each is uploaded once.
func TestJoinCrashBeforeSidecar(t *testing.T) {
	dir := t.TempDir()
	recordParts(t, dir)
	if _, err := capture.Join(dir, []string{"p1", "p2"}, "ev7"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "ev7.json")); err != nil { // as if it was never written
		t.Fatal(err)
	}
	if _, err := capture.Recover(dir); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p2"} {
		if sc, err := capture.ReadSidecar(dir, id); err != nil || !sc.Uploadable() || sc.JoinedInto != "" {
			t.Errorf("%s after recovery: %+v, %v", id, sc, err)
		}
	}
	// Joining again replaces the leftover file.
	if _, err := capture.Join(dir, []string{"p1", "p2"}, "ev7"); err != nil {
		t.Errorf("second join: %v", err)
	}
}
