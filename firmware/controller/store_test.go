package controller

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
)

// syncSpy is the real file system with the directory syncs counted.
type syncSpy struct {
	atomicfile.FS
	dirSyncs []string
	renames  int
}

func (s *syncSpy) Rename(a, b string) error { s.renames++; return s.FS.Rename(a, b) }
func (s *syncSpy) SyncDir(dir string) error {
	if s.renames == 0 {
		panic("directory synced before the rename")
	}
	s.dirSyncs = append(s.dirSyncs, dir)
	return s.FS.SyncDir(dir)
}

func TestFileStoreRoundTripAndDirectorySync(t *testing.T) {
	dir := t.TempDir()
	spy := &syncSpy{FS: atomicfile.OS}
	fs := &FileStore{Path: filepath.Join(dir, "controller.json"), FS: spy}
	st := NewState()
	lec := occ(1, "0s", "1h")
	r := Rec{ID: RecordingID("1", 1, t0), Occ: lec, Part: 1, Started: t0}
	st.Running["1"], st.Parts["1"] = r, 1
	st.Pending = []Action{{Kind: Hold, Rec: r, Why: "event cancelled"}}
	st.AckTill = t0.Add(time.Second)
	if err := fs.Save(st); err != nil {
		t.Fatal(err)
	}
	if len(spy.dirSyncs) != 1 || spy.dirSyncs[0] != dir {
		t.Fatalf("directory syncs %v, want [%s]", spy.dirSyncs, dir)
	}
	got, err := fs.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.Running["1"].ID != r.ID || got.Parts["1"] != 1 || len(got.Pending) != 1 ||
		got.Pending[0].Kind != Hold || got.Pending[0].Rec.ID != r.ID || !got.AckTill.Equal(st.AckTill) {
		t.Fatalf("round trip: %+v", got)
	}
}
