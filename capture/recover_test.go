package capture_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/capture/capturetest"
	"github.com/capturebox/capturebox/hal/haltest"
)

// topBoxes returns the type and offset of each top-level box of a file.
func topBoxes(t *testing.T, b []byte) (types []string, offs []int) {
	t.Helper()
	for off := 0; off+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[off:]))
		types = append(types, string(b[off+4:off+8]))
		offs = append(offs, off)
		if size < 8 {
			t.Fatalf("box of size %d at %d", size, off)
		}
		off += size
	}
	return types, offs
}

// crashSnapshot records for 5.5 s and copies the recording's files as a
// crash at that moment would leave them, then stops the recording. It
// returns the snapshot's part file and sidecar, and the recording's start.
func crashSnapshot(t *testing.T) (part, sidecar []byte, t0 time.Time) {
	t.Helper()
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		// One-second fragments, as the expectations below count them.
		r := newRecorder(t, cam, capture.Config{Dir: dir, FragmentDuration: time.Second})
		t0 = time.Now()
		if _, err := r.Start("ev", capture.Meta{EventID: 7, Title: "crashed", Start: t0, End: t0.Add(time.Hour), Part: 1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5500 * time.Millisecond)
		var err error
		if part, err = os.ReadFile(filepath.Join(dir, "ev.part.mp4")); err != nil {
			t.Fatal(err)
		}
		if sidecar, err = os.ReadFile(filepath.Join(dir, "ev.json")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Stop("ev"); err != nil {
			t.Fatal(err)
		}
	})
	return part, sidecar, t0
}

func TestRecover(t *testing.T) {
	part, sidecar, t0 := crashSnapshot(t)
	types, offs := topBoxes(t, part)
	// The file holds what was fsynced: init and the fragments of seconds
	// 0–1 to 4–5; the sixth second was still being collected.
	if want := "[ftyp moov moof mdat moof mdat moof mdat moof mdat moof mdat]"; fmtList(types) != want {
		t.Fatalf("crashed file boxes %v, want %s", types, want)
	}
	lastMoof := offs[len(offs)-2]

	for _, tc := range []struct {
		name      string
		part      []byte // nil: no part file
		final     []byte // a closed file (crash inside Stop)
		sidecar   bool
		damaged   bool // a sidecar whose event id does not parse
		wantDur   time.Duration
		wantStart time.Time
	}{
		{name: "intact", part: part, sidecar: true, wantDur: 5 * time.Second, wantStart: t0},
		{name: "torn in last mdat", part: part[:len(part)-1000], sidecar: true, wantDur: 4 * time.Second, wantStart: t0},
		{name: "torn in last moof", part: part[:lastMoof+20], sidecar: true, wantDur: 4 * time.Second, wantStart: t0},
		{name: "torn box header", part: part[:lastMoof+3], sidecar: true, wantDur: 4 * time.Second, wantStart: t0},
		{name: "no sidecar", part: part[:len(part)-1], wantDur: 4 * time.Second, wantStart: t0}, // start from mvhd (whole seconds)
		{name: "damaged sidecar", part: part[:len(part)-1], damaged: true, wantDur: 4 * time.Second, wantStart: t0},
		{name: "init only", part: part[:offs[2]], sidecar: true},
		{name: "torn init", part: part[:offs[1]+50], sidecar: true},
		{name: "crash inside stop", final: part, sidecar: true, wantDur: 5 * time.Second, wantStart: t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.part != nil {
				writeFile(t, filepath.Join(dir, "ev.part.mp4"), tc.part)
			}
			if tc.final != nil {
				writeFile(t, filepath.Join(dir, "ev.mp4"), tc.final)
			}
			if tc.sidecar {
				writeFile(t, filepath.Join(dir, "ev.json"), sidecar)
			}
			damaged := bytes.Replace(sidecar, []byte(`"eventId": 7`), []byte(`"eventId": "7x"`), 1)
			if tc.damaged {
				if bytes.Equal(damaged, sidecar) {
					t.Fatalf("no event id in the sidecar:\n%s", sidecar)
				}
				writeFile(t, filepath.Join(dir, "ev.json"), damaged)
			}
			writeFile(t, filepath.Join(dir, ".ev.json.tmp123"), []byte("{"))
			writeFile(t, filepath.Join(dir, "unrelated.txt"), []byte("x"))

			results, err := capture.Recover(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, ".ev.json.tmp123")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temporary file left: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "ev.part.mp4")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("part file left: %v", err)
			}
			sc, scErr := capture.ReadSidecar(dir, "ev")
			if tc.wantDur == 0 {
				if len(results) != 0 {
					t.Fatalf("results %+v for a file without media", results)
				}
				if scErr != nil || sc.State != capture.StateEmpty {
					t.Errorf("sidecar %+v, %v; want state empty", sc, scErr)
				}
				return
			}
			if len(results) != 1 {
				t.Fatalf("%d results", len(results))
			}
			res := results[0]
			if res.Path != filepath.Join(dir, "ev.mp4") || res.Duration != tc.wantDur || !res.Start.Equal(tc.wantStart) || !res.End.Equal(tc.wantStart.Add(tc.wantDur)) {
				t.Errorf("result %s %v..%v (%v), want %v from %v", res.Path, res.Start, res.End, res.Duration, tc.wantDur, tc.wantStart)
			}
			if fi, err := os.Stat(res.Path); err != nil || fi.Size() != res.Bytes {
				t.Errorf("file: %v, %v; result says %d bytes", fi, err, res.Bytes)
			}
			if sc.State != capture.StateRecovered || sc.File != "ev.mp4" || sc.Duration != tc.wantDur || len(sc.Parts) != 1 {
				t.Errorf("sidecar %+v, %v", sc, scErr)
			}
			if tc.sidecar {
				if scErr != nil || sc.Meta.EventID != 7 || sc.Meta.Title != "crashed" {
					t.Errorf("sidecar lost the meta: %+v, %v", sc.Meta, scErr)
				}
			} else {
				// Without its metadata the recording is kept and flagged,
				// never passed off as an ad-hoc one.
				var se *capture.SidecarError
				if !errors.As(scErr, &se) || se.ID != "ev" || sc.MetaError == "" {
					t.Errorf("ReadSidecar = %+v, %v; want a *SidecarError", sc, scErr)
				}
			}
			if tc.damaged {
				if b, err := os.ReadFile(filepath.Join(dir, "ev.json.bad")); err != nil || !bytes.Equal(b, damaged) {
					t.Errorf("damaged sidecar not kept aside: %v", err)
				}
			}
			frames := int(tc.wantDur / frame)
			samples, _, err := capturetest.ReadSamples(res.Path)
			if err != nil || len(samples) != frames {
				t.Fatalf("%d samples, %v; want %d", len(samples), err, frames)
			}
			// A second Recover finds nothing to do.
			if again, err := capture.Recover(dir); err != nil || len(again) != 0 {
				t.Errorf("second Recover = %v, %v", again, err)
			}
			info := capturetest.Probe(t, res.Path)
			if info.Codec != "h264" || info.Frames != frames || math.Abs(info.Duration-tc.wantDur.Seconds()) > 0.001 {
				t.Errorf("ffprobe: %s, %d frames, %.3f s; want %d frames, %v", info.Codec, info.Frames, info.Duration, frames, tc.wantDur)
			}
		})
	}
}

// TestRecoverKeepsGaps: a crashed recording with a signal gap gets two
// parts back.
func TestRecoverKeepsGaps(t *testing.T) {
	dir := t.TempDir()
	crash := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		if _, err := r.Start("gap", capture.Meta{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Second - time.Millisecond)
		cam.Unplug()
		time.Sleep(1500 * time.Millisecond) // plugged at 3.499 s, seen by the retry at 3.999 s
		cam.Plug()
		time.Sleep(3 * time.Second)
		for _, name := range []string{"gap.part.mp4", "gap.json"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(crash, name), b)
		}
		if _, err := r.Stop("gap"); err != nil {
			t.Fatal(err)
		}
	})
	results, err := capture.Recover(crash)
	if err != nil || len(results) != 1 {
		t.Fatalf("Recover = %+v, %v", results, err)
	}
	p := results[0].Parts
	if len(p) != 2 || p[0].End.Sub(p[0].Start) != 2*time.Second || p[1].Start.Sub(p[0].End) != 1999*time.Millisecond {
		t.Errorf("parts %v, want 2 s, then a gap of 1.999 s", p)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
