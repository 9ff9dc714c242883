package capture_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal/haltest"
)

const mib = 1 << 20

var day0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func ids(d capture.GuardDecision) []string {
	var out []string
	for _, x := range d.Delete {
		out = append(out, x.ID+":"+x.Why)
	}
	return out
}

func TestGuardRetention(t *testing.T) {
	p := capture.GuardPolicy{Retention: 7 * 24 * time.Hour, MinFree: 100 * mib}
	files := []capture.DiskFile{
		{ID: "old-up", Bytes: 10 * mib, Recorded: day0, Uploaded: true, UploadedAt: day0.Add(time.Hour)},
		{ID: "old-not-up", Bytes: 10 * mib, Recorded: day0.Add(-time.Hour)},
		{ID: "new-up", Bytes: 10 * mib, Recorded: day0.Add(6 * 24 * time.Hour), Uploaded: true, UploadedAt: day0.Add(6 * 24 * time.Hour)},
	}
	plenty := int64(10 << 30)
	if d := p.Decide(files, plenty, day0.Add(7*24*time.Hour)); len(d.Delete) != 0 || d.Short != 0 {
		t.Errorf("before retention: %v short %d", ids(d), d.Short)
	}
	d := p.Decide(files, plenty, day0.Add(7*24*time.Hour+time.Hour))
	if want := []string{"old-up:retention"}; !slices.Equal(ids(d), want) || d.Short != 0 {
		t.Errorf("after retention: %v short %d, want %v", ids(d), d.Short, want)
	}
	// Retention 0: deleted as soon as it is uploaded.
	p.Retention = 0
	if d := p.Decide(files, plenty, day0.Add(6*24*time.Hour)); !slices.Equal(ids(d), []string{"old-up:retention", "new-up:retention"}) {
		t.Errorf("retention 0: %v", ids(d))
	}
}

func TestGuardLowSpace(t *testing.T) {
	p := capture.GuardPolicy{Retention: 30 * 24 * time.Hour, MinFree: 100 * mib}
	now := day0.Add(48 * time.Hour)
	files := []capture.DiskFile{
		{ID: "c", Bytes: 40 * mib, Recorded: day0.Add(2 * time.Hour), Uploaded: true, UploadedAt: day0.Add(3 * time.Hour)},
		{ID: "a", Bytes: 40 * mib, Recorded: day0, Uploaded: true, UploadedAt: day0.Add(5 * time.Hour)},
		{ID: "pending", Bytes: 500 * mib, Recorded: day0.Add(-time.Hour)}, // oldest of all, not uploaded
		{ID: "b", Bytes: 40 * mib, Recorded: day0.Add(time.Hour), Uploaded: true, UploadedAt: day0.Add(4 * time.Hour)},
	}
	// 30 MiB free: 70 MiB needed, so the two oldest uploaded go.
	d := p.Decide(files, 30*mib, now)
	if want := []string{"a:space", "b:space"}; !slices.Equal(ids(d), want) || d.Short != 0 {
		t.Errorf("low space: %v short %d, want %v", ids(d), d.Short, want)
	}
	// Enough free: nothing goes before its retention.
	if d := p.Decide(files, 100*mib, now); len(d.Delete) != 0 {
		t.Errorf("enough space: %v", ids(d))
	}
	// Even all uploaded ones are not enough: all go, and 80 MiB are
	// missing (the 500 MiB not uploaded stay).
	p.MinFree = 200 * mib
	d = p.Decide(files, 0, now)
	if want := []string{"a:space", "b:space", "c:space"}; !slices.Equal(ids(d), want) || d.Short != 80*mib {
		t.Errorf("no space: %v short %d, want %v short %d", ids(d), d.Short, want, 80*mib)
	}
}

func TestGuardNeverDeletesWhatIsNotUploaded(t *testing.T) {
	p := capture.GuardPolicy{Retention: 0, MinFree: 1 << 30}
	var files []capture.DiskFile
	for i := range 50 {
		files = append(files, capture.DiskFile{ID: string(rune('a' + i%26)), Bytes: 100 * mib, Recorded: day0.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	for _, free := range []int64{0, 10 * mib, 1 << 30, 1 << 40} {
		for _, now := range []time.Time{day0, day0.Add(400 * 24 * time.Hour)} {
			d := p.Decide(files, free, now)
			if len(d.Delete) != 0 {
				t.Fatalf("free %d at %v: deleted %v, none of which reached Kaltura", free, now, ids(d))
			}
			if want := max(p.MinFree-free, 0); d.Short != want {
				t.Errorf("free %d: short %d, want %d", free, d.Short, want)
			}
		}
	}
}

func TestGuardRoom(t *testing.T) {
	// 4 Mbit/s for 75 minutes is 2.25 GB.
	if got := capture.ProjectedSize(4_000_000, 75*time.Minute); got != 2_250_000_000 {
		t.Fatalf("ProjectedSize = %d", got)
	}
	files := []capture.DiskFile{
		{ID: "up", Bytes: 600_000_000, Duration: 20 * time.Minute, Uploaded: true}, // 4 Mbit/s
		{ID: "pending", Bytes: 150_000_000, Duration: 10 * time.Minute},            // 2 Mbit/s
		{ID: "short", Bytes: 90_000_000, Duration: 30 * time.Second},               // too short to count
	}
	if br := capture.EstimateBitrate(files, 1); br != 4_000_000 {
		t.Errorf("EstimateBitrate = %d, want the highest, 4 Mbit/s", br)
	}
	if br := capture.EstimateBitrate(nil, 8_000_000); br != 8_000_000 {
		t.Errorf("EstimateBitrate without files = %d", br)
	}
	p := capture.GuardPolicy{MinFree: 1_000_000_000}
	need := capture.ProjectedSize(4_000_000, 75*time.Minute)
	// 2.7 GB free + 0.6 GB deletable = 3.3 GB, need 2.25 + 1 = 3.25: fits.
	if ok, short := p.Room(files, 2_700_000_000, need); !ok || short != 0 {
		t.Errorf("Room = %v, %d; want room", ok, short)
	}
	// 2.6 GB free: 50 MB short; the un-uploaded file does not count.
	if ok, short := p.Room(files, 2_600_000_000, need); ok || short != 50_000_000 {
		t.Errorf("Room = %v, %d; want 50 MB short", ok, short)
	}
}

// fakeUploads is the upload queue's view: which recordings are READY.
type fakeUploads struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (u *fakeUploads) set(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.at[id] = at
}

func (u *fakeUploads) Uploaded(id string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	at, ok := u.at[id]
	return at, ok
}

// TestGuardLoop runs the guard's loop on real recordings: uploaded ones go
// after the retention, the one that has not reached Kaltura stays even
// when space runs out, and the shortfall is reported.
func TestGuardLoop(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cam := haltest.NewFakeCamera(haltest.CameraConfig{})
		r := newRecorder(t, cam, capture.Config{Dir: dir})
		for _, id := range []string{"a", "b", "c"} {
			if _, err := r.Start(id, capture.Meta{Title: id}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if _, err := r.Stop(id); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		capacity := int64(1 << 40)
		used := func() int64 {
			var n int64
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".mp4") {
					n += fi.Size()
				}
			}
			return n
		}
		up := &fakeUploads{at: map[string]time.Time{}}
		var deleted []string
		var short int64
		g, err := capture.NewGuard(capture.GuardConfig{
			Dir:     dir,
			Policy:  capture.GuardPolicy{Retention: time.Hour, MinFree: 1 << 20},
			Uploads: up,
			FreeSpace: func(string) (int64, error) {
				mu.Lock()
				defer mu.Unlock()
				return capacity - used(), nil
			},
			OnDeleted: func(id string) { mu.Lock(); deleted = append(deleted, id); mu.Unlock() },
			OnShort:   func(s int64) { mu.Lock(); short = s; mu.Unlock() },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		t0 := time.Now()
		up.set("a", t0)
		up.set("b", t0.Add(30*time.Minute))
		synctest.Wait()

		time.Sleep(time.Hour + time.Minute) // a's retention is over, b's not
		synctest.Wait()
		mu.Lock()
		if !slices.Equal(deleted, []string{"a"}) {
			t.Errorf("after an hour: deleted %v, want [a]", deleted)
		}
		mu.Unlock()
		for _, f := range []string{"a.mp4", "a.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there: %v", f, err)
			}
		}

		// The disk fills: b (uploaded) goes at once on a poke; c (not
		// uploaded) stays, and the shortfall is reported.
		mu.Lock()
		capacity = used() + 1<<10
		mu.Unlock()
		g.Poke()
		synctest.Wait()
		mu.Lock()
		if !slices.Equal(deleted, []string{"a", "b"}) || short <= 0 {
			t.Errorf("low space: deleted %v, short %d; want [a b] and a shortfall", deleted, short)
		}
		mu.Unlock()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		if _, err := os.Stat(filepath.Join(dir, "c.mp4")); err != nil {
			t.Errorf("the recording that never reached Kaltura was deleted: %v", err)
		}
		if st := g.Status(); st.Short <= 0 || st.Err != nil {
			t.Errorf("status %+v", st)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
}

// A power cut inside a deletion leaves a sidecar in StateDeleted: the next
// check finishes the job and uploads nothing again.
func TestGuardFinishesInterruptedDeletion(t *testing.T) {
	dir := t.TempDir()
	sc := capture.Sidecar{Version: capture.SidecarVersion, ID: "gone", State: capture.StateDeleted, Meta: capture.Meta{Title: "x"}}
	b, _ := json.Marshal(sc)
	writeSidecarJSON(t, dir, "gone", string(b))
	if err := os.WriteFile(filepath.Join(dir, "gone.mp4"), []byte("media"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := capture.NewGuard(capture.GuardConfig{Dir: dir, Uploads: &fakeUploads{at: map[string]time.Time{}},
		FreeSpace: func(string) (int64, error) { return 1 << 40, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Check(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}
