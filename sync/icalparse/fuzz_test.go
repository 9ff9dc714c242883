package icalparse

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ical "github.com/emersion/go-ical"
)

// checkDecodes asserts that go-ical reads prepass output without error.
func checkDecodes(out []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-ical panicked on prepass output: %v\n%q", r, out)
		}
	}()
	if _, err := ical.NewDecoder(bytes.NewReader(out)).Decode(); err != nil {
		return fmt.Errorf("go-ical rejects prepass output: %v\n%q", err, out)
	}
	return nil
}

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ics"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil && len(b) < 8<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(calendar(vevent("1", "DTSTART;TZID=\"a:b\",c;X=y:1"))))
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\nBEGIN:VALARM\nEND:VEVENT\nEND:VCALENDAR"))
}

// fuzzOptions keep memory bounded whatever the input.
var fuzzOptions = Options{MaxBytes: 1 << 20, MaxLineBytes: 64 << 10}

func FuzzPrepass(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Prepass(data, fuzzOptions)
		if err != nil {
			return
		}
		if err := checkDecodes(out); err != nil {
			t.Fatal(err)
		}
		// Output stays within a bounded factor of the input (escaping at
		// most doubles a value; wrapper lines add a constant).
		if len(out) > 3*len(data)+4096 {
			t.Fatalf("prepass output %d bytes for %d bytes of input", len(out), len(data))
		}
	})
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cal, err := Parse(bytes.NewReader(data), fuzzOptions)
		if err != nil {
			return
		}
		for _, e := range cal.Events {
			if e.ID <= 0 {
				t.Fatalf("event with id %d accepted", e.ID)
			}
			if d := e.End.Sub(e.Start); d <= 0 || d > MaxEventLength {
				t.Fatalf("event %d accepted with length %s", e.ID, d)
			}
			if len(e.Tags) >= MaxTagsBytes {
				t.Fatalf("event %d accepted with %d bytes of tags", e.ID, len(e.Tags))
			}
			if e.TemplateEntryID != "" && !validEntryID(e.TemplateEntryID) {
				t.Fatalf("event %d accepted with template %q", e.ID, e.TemplateEntryID)
			}
		}
		for _, r := range cal.Rejected {
			if r.Reason == "" || r.Line <= 0 || strings.Contains(r.Reason, "\n") {
				t.Fatalf("bad rejection %+v", r)
			}
		}
	})
}
