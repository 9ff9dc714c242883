package schedulecli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var fixtures = filepath.Join("..", "icalparse", "testdata")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func ny(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestGoldenJSON plans every fixture for resource 58 over 2025.
func TestGoldenJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*.ics"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ics")
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := Run(context.Background(), []string{"--ical", f, "--resource", "58", "--from", "2025-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z", "--json"},
				&out, &errOut, Env{Local: ny(t)})
			var got bytes.Buffer
			if err != nil {
				got.WriteString("error: " + strings.ReplaceAll(err.Error(), fixtures+string(filepath.Separator), "") + "\n")
			}
			got.Write(out.Bytes())
			if errOut.Len() > 0 {
				got.WriteString("--- stderr\n" + strings.ReplaceAll(errOut.String(), fixtures+string(filepath.Separator), ""))
			}
			golden(t, filepath.Join("testdata", name+".golden.jsonl"), got.Bytes())

			// Every stdout line is one object with the documented members,
			// sorted by start.
			sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
			sc.Buffer(nil, 1<<20)
			prev := ""
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				for _, k := range []string{"key", "id", "parent_id", "title", "start", "end", "template_entry_id", "status", "type", "category_ids", "tags", "record"} {
					if _, ok := m[k]; !ok {
						t.Errorf("line lacks %q: %s", k, sc.Text())
					}
				}
				s := m["start"].(string)
				if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
					t.Errorf("start %q is not RFC 3339 UTC", s)
				}
				if s < prev {
					t.Errorf("not sorted by start: %s after %s", s, prev)
				}
				prev = s
			}
		})
	}
}

func TestGoldenTable(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{
		"--ical", filepath.Join(fixtures, "example_b.ics"),
		filepath.Join(fixtures, "series_only.ics"),
		filepath.Join(fixtures, "quirks.ics"),
		"--resource", "58", "--from", "2025-10-13T00:00:00Z", "--to", "2025-10-24T00:00:00Z",
	}
	if err := Run(context.Background(), args, &out, &errOut, Env{Local: ny(t)}); err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "table.golden.txt"), out.Bytes())
	if !strings.Contains(out.String(), "EDT") {
		t.Errorf("table not in local time:\n%s", out.String())
	}
}

func TestUsage(t *testing.T) {
	now := time.Date(2025, 10, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		args  []string
		usage bool
	}{
		{nil, true},
		{[]string{"--bogus"}, true},
		{[]string{"--ical", "x.ics", "--from", "yesterday"}, true},
		{[]string{"--ical", "x.ics", "--from", "2025-10-20T00:00:00Z", "--to", "2025-10-19T00:00:00Z"}, true},
		{[]string{"--ical", "x.ics", "--tz", "Local"}, true},
		{[]string{"--ical", filepath.Join(fixtures, "does-not-exist.ics")}, false},
		{[]string{"--ical", filepath.Join(fixtures, "verror.ics")}, false},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), tc.args, &out, &errOut, Env{Now: now})
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		if got := errors.Is(err, ErrUsage); got != tc.usage {
			t.Errorf("%v: usage error %v, want %v (%v)", tc.args, got, tc.usage, err)
		}
	}
}

func TestDefaultWindowUsesInjectedNow(t *testing.T) {
	var out, errOut bytes.Buffer
	// Example A is on 2025-09-15 13:00Z; a "now" 14 days before sees it,
	// one 15 days before does not.
	f := filepath.Join(fixtures, "example_a.ics")
	ev := time.Date(2025, 9, 15, 13, 0, 0, 0, time.UTC)
	if err := Run(context.Background(), []string{"--ical", f, "--json"}, &out, &errOut, Env{Now: ev.Add(-13 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"id":7340012`) {
		t.Errorf("event not in the default window: %s", out.String())
	}
	out.Reset()
	if err := Run(context.Background(), []string{"--ical", f, "--json"}, &out, &errOut, Env{Now: ev.Add(-15 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("event beyond the default window printed: %s", out.String())
	}
}

// listingFetcher serves one page, as the box's fetcher would.
type listingFetcher struct {
	body  []byte
	ids   []int64
	calls int
	now   time.Time
}

func (f *listingFetcher) Fetch(_ context.Context, req fetch.Request) (*fetch.Listing, error) {
	f.calls++
	f.now = req.Now
	return &fetch.Listing{Transport: "https", Source: "test", From: req.Now, To: req.Now.Add(fetch.DefaultWindow),
		Total: len(f.ids), Pages: []fetch.Page{{Name: "page 1", Body: f.body, IDs: f.ids}}}, nil
}

// TestWithoutICalRunsTheSyncOnce: the form without --ical is the box's
// sync, run once with the configured fetcher and resource.
func TestWithoutICalRunsTheSyncOnce(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(fixtures, "example_a.ics"))
	if err != nil {
		t.Fatal(err)
	}
	f := &listingFetcher{body: body, ids: []int64{7340012}}
	now := time.Date(2025, 9, 10, 0, 0, 0, 0, time.UTC)
	var gotPath string
	var gotResource int64
	var gotWindow time.Duration
	env := Env{Now: now, DefaultConfig: "/boot/capturebox.toml", Remote: func(path string, resource int64, window time.Duration) (Remote, error) {
		gotPath, gotResource, gotWindow = path, resource, window
		if resource == 0 {
			resource = 58
		}
		return Remote{Fetcher: f, ResourceID: resource, Local: ny(t)}, nil
	}}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"--json"}, &out, &errOut, env); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if f.calls != 1 || !f.now.Equal(now) || gotPath != "/boot/capturebox.toml" {
		t.Errorf("fetches %d at %s, config %q", f.calls, f.now, gotPath)
	}
	if !strings.Contains(out.String(), `"id":7340012`) || !strings.Contains(out.String(), `"record":true`) {
		t.Errorf("output %s", out.String())
	}
	if gotResource != 0 || gotWindow != 0 {
		t.Errorf("overrides %d %s without flags", gotResource, gotWindow)
	}
	// Another resource, and a window from --from to --to: the sync's clock
	// is --from; the plan keeps nothing of resource 59.
	out.Reset()
	args := []string{"--json", "--resource", "59", "--from", "2025-09-01T00:00:00Z", "--to", "2025-09-08T00:00:00Z"}
	if err := Run(context.Background(), args, &out, &errOut, env); err != nil || out.Len() != 0 {
		t.Errorf("resource 59: %v %q", err, out.String())
	}
	if gotResource != 59 || gotWindow != 7*24*time.Hour || !f.now.Equal(time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("overrides: resource %d window %s clock %s", gotResource, gotWindow, f.now)
	}
	if err := Run(context.Background(), []string{"--from", "2025-01-02T00:00:00Z", "--to", "2025-01-01T00:00:00Z"}, &out, &errOut, env); !errors.Is(err, ErrUsage) {
		t.Errorf("--to before --from: %v, want a usage error", err)
	}
	// The box plans with its camera and the room it stands in: a camera
	// (59) in room 58 keeps the events booked on the room, as the box does.
	for _, room := range []int64{58, 0} {
		out.Reset()
		roomEnv := Env{Now: now, Remote: func(string, int64, time.Duration) (Remote, error) {
			return Remote{Fetcher: f, ResourceID: 59, RoomID: room, Local: ny(t)}, nil
		}}
		if err := Run(context.Background(), []string{"--json"}, &out, &errOut, roomEnv); err != nil {
			t.Fatalf("room %d: %v", room, err)
		}
		if kept := strings.Contains(out.String(), `"id":7340012`); kept != (room != 0) {
			t.Errorf("camera 59 in room %d: event on resource 58 kept %v: %s", room, kept, out.String())
		}
	}
}

// TestOutputBoundedPerEvent: however many recordings overlap, each JSON
// line names at most plan.MaxAhead of them (4,000 identical events used to
// print 4,000 keys on each of 4,000 lines; a SECONDLY series of 75-minute
// instances 9,000 on each).
func TestOutputBoundedPerEvent(t *testing.T) {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "BEGIN:VEVENT\r\nSUMMARY:same\r\nDTSTART:20251020T130000Z\r\nDTEND:20251020T140000Z\r\nX-KALTURA-ID:%d\r\nX-KALTURA-TYPE:1\r\nX-KALTURA-STATUS:2\r\nX-KALTURA-RESOURCE-IDS:58\r\nEND:VEVENT\r\n", 100000+i)
	}
	b.WriteString("BEGIN:VEVENT\r\nSUMMARY:every second\r\nDTSTART:20251021T130000Z\r\nDTEND:20251021T141500Z\r\nRRULE:FREQ=SECONDLY;COUNT=3000\r\nX-KALTURA-ID:900\r\nX-KALTURA-TYPE:1\r\nX-KALTURA-STATUS:2\r\nX-KALTURA-RESOURCE-IDS:58\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	path := filepath.Join(t.TempDir(), "hostile.ics")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := Run(context.Background(), []string{"-ical", path, "-resource", "58", "-from", "2025-10-01T00:00:00Z", "-to", "2025-11-01T00:00:00Z", "-json"}, &out, &errOut, Env{}); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	n, longest := 0, 0
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		n++
		longest = max(longest, len(sc.Bytes()))
		var o Occurrence
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Ahead) > plan.MaxAhead || o.Overlaps == 0 {
			t.Fatalf("%s: %d overlaps, %d ahead", o.Key, o.Overlaps, len(o.Ahead))
		}
	}
	if n != 5000 || longest > 600 {
		t.Errorf("%d lines, longest %d bytes: want 5000 lines of bounded size", n, longest)
	}
}
