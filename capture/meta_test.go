package capture_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/hal/haltest"
)

var (
	planStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	planEnd   = planStart.Add(75 * time.Minute)
)

func TestMetaValidate(t *testing.T) {
	ev := capture.Meta{EventID: 7, ResourceIDs: []int64{58}, Title: "Physics", Start: planStart, End: planEnd, Part: 1, CategoryIDs: []int64{3}}
	if err := ev.Validate(); err != nil {
		t.Fatalf("good event meta: %v", err)
	}
	if err := (capture.Meta{Title: "Room 7 ad hoc"}).Validate(); err != nil {
		t.Fatalf("good ad-hoc meta: %v", err)
	}
	for name, change := range map[string]func(*capture.Meta){
		"negative event":   func(m *capture.Meta) { m.EventID = -1 },
		"no span":          func(m *capture.Meta) { m.Start, m.End = time.Time{}, time.Time{} },
		"span backwards":   func(m *capture.Meta) { m.Start, m.End = m.End, m.Start },
		"part 0":           func(m *capture.Meta) { m.Part = 0 },
		"bad resource":     func(m *capture.Meta) { m.ResourceIDs = []int64{0} },
		"bad category":     func(m *capture.Meta) { m.CategoryIDs = []int64{-3} },
		"title not UTF-8":  func(m *capture.Meta) { m.Title = "\xff" },
		"huge description": func(m *capture.Meta) { m.Description = strings.Repeat("x", 1<<20) },
		"gaps out of order": func(m *capture.Meta) {
			m.Gaps = []capture.Span{{Start: planEnd, End: planEnd}, {Start: planStart, End: planStart}}
		},
	} {
		m := ev
		change(&m)
		if err := m.Validate(); !errors.Is(err, capture.ErrInvalidMeta) {
			t.Errorf("%s: Validate = %v, want ErrInvalidMeta", name, err)
		}
	}
}

func TestRecorderRefusesInvalidMeta(t *testing.T) {
	r, err := capture.New(capture.Config{Dir: t.TempDir(), Source: haltest.NewFakeCamera(haltest.CameraConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start("x", capture.Meta{EventID: 7}); !errors.Is(err, capture.ErrInvalidMeta) {
		t.Fatalf("Start with an event without a span: %v", err)
	}
}

func writeSidecarJSON(t *testing.T, dir, id, js string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Sidecars written before the metadata was typed are read strictly: the
// event id and the category list parse or the sidecar is a fault.
func TestReadLegacySidecar(t *testing.T) {
	dir := t.TempDir()
	writeSidecarJSON(t, dir, "old", `{"id":"old","state":"closed","file":"old.mp4","meta":{
		"eventId":"4711","title":"Chemistry","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:15:00Z","part":1,
		"templateEntryId":"0_tmpl","extra":{"description":"d","tags":"a,b","categories":"12, 13"}}}`)
	sc, err := capture.ReadSidecar(dir, "old")
	if err != nil {
		t.Fatal(err)
	}
	m := sc.Meta
	if m.EventID != 4711 || m.Title != "Chemistry" || m.Description != "d" || m.Tags != "a,b" || !slices.Equal(m.CategoryIDs, []int64{12, 13}) ||
		m.TemplateEntryID != "0_tmpl" || !m.Start.Equal(planStart) || !m.End.Equal(planEnd) {
		t.Errorf("legacy meta read as %+v", m)
	}
	for name, meta := range map[string]string{
		"event id":   `{"eventId":"47x","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:15:00Z","part":1}`,
		"categories": `{"eventId":"4711","start":"2026-03-02T09:00:00Z","end":"2026-03-02T10:15:00Z","part":1,"extra":{"categories":"12,x"}}`,
		"no span":    `{"eventId":"4711","part":1}`,
	} {
		writeSidecarJSON(t, dir, "old", `{"id":"old","state":"closed","file":"old.mp4","meta":`+meta+`}`)
		_, err := capture.ReadSidecar(dir, "old")
		var se *capture.SidecarError
		if !errors.As(err, &se) || se.ID != "old" || !strings.Contains(err.Error(), "not uploaded") {
			t.Errorf("%s: ReadSidecar = %v, want a *SidecarError", name, err)
		}
	}
}

func TestReadSidecarFaults(t *testing.T) {
	dir := t.TempDir()
	good := capture.Sidecar{Version: capture.SidecarVersion, ID: "r", State: capture.StateClosed, File: "r.mp4",
		Meta: capture.Meta{EventID: 9, Title: "t", Start: planStart, End: planEnd, Part: 2, ResourceIDs: []int64{58}}}
	b, _ := json.Marshal(good)
	writeSidecarJSON(t, dir, "r", string(b))
	sc, err := capture.ReadSidecar(dir, "r")
	if err != nil || sc.Meta.EventID != 9 || sc.Meta.Part != 2 || !slices.Equal(sc.Meta.ResourceIDs, []int64{58}) {
		t.Fatalf("good sidecar: %+v, %v", sc, err)
	}
	for name, js := range map[string]string{
		"truncated":     string(b[:len(b)/2]),
		"other id":      strings.Replace(string(b), `"id":"r"`, `"id":"s"`, 1),
		"newer version": strings.Replace(string(b), `"version":2`, `"version":99`, 1),
		"unknown state": strings.Replace(string(b), `"state":"closed"`, `"state":"weird"`, 1),
		"bad meta":      strings.Replace(string(b), `"part":2`, `"part":0`, 1),
		"meta lost":     strings.Replace(string(b), `"state"`, `"metaError":"lost","state"`, 1),
	} {
		if js == string(b) {
			t.Fatalf("%s: the change did not apply to %s", name, b)
		}
		writeSidecarJSON(t, dir, "r", js)
		var se *capture.SidecarError
		if _, err := capture.ReadSidecar(dir, "r"); !errors.As(err, &se) {
			t.Errorf("%s: ReadSidecar = %v, want a *SidecarError", name, err)
		}
	}
	var se *capture.SidecarError
	if _, err := capture.ReadSidecar(dir, "missing"); !errors.As(err, &se) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing sidecar: %v", err)
	}
}
