package cache_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/schedule"
)

func sample() *cache.Entry {
	ny, _ := time.LoadLocation("America/New_York")
	t0 := time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)
	return &cache.Entry{
		FetchedAt: t0, Transport: "ftp", Source: "ftp://127.0.0.1:21 resource 58",
		From: t0, To: t0.Add(14 * 24 * time.Hour), Total: 2, Rejected: 1,
		Events: []schedule.Event{
			{ID: 7341019, ParentID: 7341000, Type: schedule.TypeRecord, Status: schedule.StatusActive, Title: "CHEM 101; a, b\\c",
				Start: time.Date(2025, 11, 4, 9, 0, 0, 0, ny), End: time.Date(2025, 11, 4, 10, 15, 0, 0, ny), TZID: "America/New_York",
				ResourceIDs: []int64{58}, CategoryIDs: []int64{301, 305}, TemplateEntryID: "1_xy98zw76", Sequence: 1},
			{ID: 7340012, Type: schedule.TypeBlackout, Status: schedule.StatusCancelled, Start: t0, End: t0.Add(time.Hour)},
		},
		Files:      []fetch.File{{Name: "7341019.ics", Size: 900, ModTime: t0.Add(-time.Hour), Body: "BEGIN:VCALENDAR\n…"}},
		FTPService: "scheduleEvent",
	}
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := cache.New(dir)
	if e, err := s.Load(); e != nil || err != nil {
		t.Fatalf("empty: %v %v", e, err)
	}
	in := sample()
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	out, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if !bytes.Equal(a, b) {
		t.Fatalf("round trip differs:\n%s\n%s", a, b)
	}
	if !out.Events[0].Start.Equal(in.Events[0].Start) {
		t.Fatal("start time changed")
	}
	// Replace; nothing but the file is left in the directory.
	in.Events = in.Events[:1]
	if err := s.Save(in); err != nil {
		t.Fatal(err)
	}
	out, err = s.Load()
	if err != nil || len(out.Events) != 1 {
		t.Fatalf("after replace: %v %v", out, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != cache.FileName {
		t.Fatalf("directory holds %v", ents)
	}
}

func TestCorruptIsMovedAside(t *testing.T) {
	good := func(t *testing.T) []byte {
		s := cache.New(t.TempDir())
		if err := s.Save(sample()); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(s.Path())
		return b
	}
	for _, tc := range []struct {
		name  string
		spoil func([]byte) []byte
	}{
		{"flipped byte in payload", func(b []byte) []byte {
			i := bytes.Index(b, []byte("CHEM 101"))
			b[i] = 'X'
			return b
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"not json", func(b []byte) []byte { return []byte("\x00\x01garbage") }},
		{"checksum field changed", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"sha256":"`)) + len(`"sha256":"`)
			if b[i] == '0' {
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := cache.New(dir)
			bad := tc.spoil(good(t))
			if err := os.WriteFile(s.Path(), bad, 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := s.Load()
			var ce *cache.CorruptError
			if e != nil || !errors.As(err, &ce) {
				t.Fatalf("Load: %v %v", e, err)
			}
			if ce.Bad != s.Path()+".bad" {
				t.Fatalf("bad path %q", ce.Bad)
			}
			kept, err := os.ReadFile(ce.Bad)
			if err != nil || !bytes.Equal(kept, bad) {
				t.Fatal("the corrupt file was not kept as .bad")
			}
			if e, err := s.Load(); e != nil || err != nil {
				t.Fatalf("second Load: %v %v", e, err)
			}
		})
	}
}

func TestOtherVersionIsLeftAlone(t *testing.T) {
	s := cache.New(t.TempDir())
	if err := os.WriteFile(s.Path(), []byte(`{"version":99,"sha256":"","payload":{}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load()
	if !errors.Is(err, cache.ErrVersion) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(s.Path()); err != nil {
		t.Fatal("file of another version was moved")
	}
}

func TestSaveFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	// The cache path is a directory: the rename must fail, and the error
	// must say so.
	s := cache.NewFile(dir)
	if err := s.Save(sample()); err == nil {
		t.Fatal("saving over a directory succeeded")
	}
}
