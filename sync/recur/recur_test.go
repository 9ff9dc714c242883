package recur

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/schedule"
)

func fixture(t *testing.T, name string) []schedule.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "icalparse", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cal, err := icalparse.Parse(f, icalparse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cal.Events
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func keys(occs []schedule.Occurrence) []string {
	out := make([]string, len(occs))
	for i, o := range occs {
		out[i] = o.Key
	}
	return out
}

func series(id int64, tz, start string, dur time.Duration, rule string) schedule.Event {
	loc := time.UTC
	if tz != "" {
		loc, _ = time.LoadLocation(tz)
	}
	s, err := time.ParseInLocation("20060102T150405", start, loc)
	if err != nil {
		panic(err)
	}
	return schedule.Event{ID: id, Type: schedule.TypeRecord, Status: schedule.StatusActive,
		Start: s.UTC(), End: s.Add(dur).UTC(), TZID: tz, RRule: rule, ResourceIDs: []int64{58}}
}

func TestExampleBOccurrencesWin(t *testing.T) {
	res := Expand(fixture(t, "example_b.ics"), ts("2025-08-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"), Options{})
	if got := keys(res.Occurrences); len(got) != 1 || got[0] != "7341019" {
		t.Fatalf("got %v, want only the occurrence 7341019 (the series is materialised)", got)
	}
	o := res.Occurrences[0]
	if o.EventID != 7341019 || o.ParentID != 7341000 || o.ReferenceID() != 7341019 {
		t.Errorf("ids: %+v", o)
	}
}

func TestSeriesWithOccurrences(t *testing.T) {
	res := Expand(fixture(t, "series_with_occurrences.ics"), ts("2025-10-01T00:00:00Z"), ts("2025-12-01T00:00:00Z"), Options{})
	want := []string{"7370001", "7370002", "7370003", "7370005"}
	if got := keys(res.Occurrences); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v (deleted 4th occurrence must not come back)", got, want)
	}
	last := res.Occurrences[3]
	if len(last.ResourceIDs) != 1 || last.ResourceIDs[0] != 58 {
		t.Errorf("occurrence without resources did not inherit the series': %v", last.ResourceIDs)
	}
	if res.Occurrences[1].Status != schedule.StatusCancelled {
		t.Errorf("cancelled occurrence lost its status")
	}
}

func TestSeriesOnlyExpanded(t *testing.T) {
	res := Expand(fixture(t, "series_only.ics"), ts("2025-09-01T00:00:00Z"), ts("2025-11-01T00:00:00Z"), Options{})
	var phys, math []schedule.Occurrence
	for _, o := range res.Occurrences {
		switch o.ParentID {
		case 7360000:
			phys = append(phys, o)
		case 7360200:
			math = append(math, o)
		}
	}
	// Mon/Wed/Fri from 1 Sep to 20 Oct inclusive (UNTIL is exactly the
	// 20 Oct instance, 10:00 BST = 09:00Z): 7 weeks × 3 + 1.
	if len(phys) != 22 {
		t.Fatalf("PHYS: %d instances, want 22: %v", len(phys), keys(phys))
	}
	if k := phys[len(phys)-1].Key; k != "7360000@20251020T090000Z" {
		t.Errorf("last PHYS instance %s, want the UNTIL instant (inclusive)", k)
	}
	for _, o := range phys {
		if o.EventID != 0 || o.ReferenceID() != 7360000 || o.End.Sub(o.Start) != 50*time.Minute {
			t.Errorf("bad instance %+v", o)
		}
	}
	if len(math) != 5 || math[4].Key != "7360200@20250910T080000Z" {
		t.Errorf("MATH COUNT=5 INTERVAL=2: %v", keys(math))
	}
	if res2 := Expand(fixture(t, "series_only.ics"), ts("2025-09-01T00:00:00Z"), ts("2025-11-01T00:00:00Z"), Options{NoExpansion: true}); len(res2.Occurrences) != 1 {
		t.Errorf("NoExpansion: %v", keys(res2.Occurrences))
	}
}

func TestDSTKeepsLocalTime(t *testing.T) {
	res := Expand(fixture(t, "dst_weekly.ics"), ts("2025-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"), Options{})
	counts := map[int64]int{}
	offsets := map[int64]map[int]bool{}
	for _, o := range res.Occurrences {
		loc, _ := time.LoadLocation(o.TZID)
		l := o.Start.In(loc)
		if l.Hour() != 9 || l.Minute() != 0 {
			t.Errorf("%s starts at %s local, want 09:00", o.Key, l.Format("2006-01-02 15:04 MST"))
		}
		counts[o.ParentID]++
		if offsets[o.ParentID] == nil {
			offsets[o.ParentID] = map[int]bool{}
		}
		_, off := l.Zone()
		offsets[o.ParentID][off] = true
	}
	// NY: Mondays 24 Feb .. 24 Nov 2025 = 40; London: COUNT=40.
	if counts[7380000] != 40 || counts[7380100] != 40 {
		t.Errorf("counts %v, want 40 each", counts)
	}
	for id, offs := range offsets {
		if len(offs) != 2 {
			t.Errorf("series %d never crossed a DST change: %v", id, offs)
		}
	}
}

func TestStarts(t *testing.T) {
	from, to := ts("2025-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z")
	tests := []struct {
		name  string
		ev    schedule.Event
		want  []string // first instants, UTC
		count int      // total, -1 to skip
		err   string
	}{
		{
			name: "until inclusive across DST (python recurring-ical-events drops it)",
			ev:   series(1, "America/New_York", "20250303T090000", time.Hour, "FREQ=WEEKLY;UNTIL=20250317T130000Z"),
			want: []string{"2025-03-03T14:00:00Z", "2025-03-10T13:00:00Z", "2025-03-17T13:00:00Z"}, count: 3,
		},
		{
			name: "until one second before the last",
			ev:   series(1, "America/New_York", "20250303T090000", time.Hour, "FREQ=WEEKLY;UNTIL=20250317T125959Z"),
			want: []string{"2025-03-03T14:00:00Z", "2025-03-10T13:00:00Z"}, count: 2,
		},
		{
			name: "instance in the spring-forward gap",
			ev:   series(1, "America/New_York", "20250302T023000", time.Hour, "FREQ=WEEKLY;COUNT=3"),
			want: []string{"2025-03-02T07:30:00Z", "2025-03-09T07:30:00Z", "2025-03-16T06:30:00Z"}, count: 3,
		},
		{
			name: "instance in the repeated hour is the first",
			ev:   series(1, "America/New_York", "20251026T013000", time.Hour, "FREQ=WEEKLY;COUNT=2"),
			want: []string{"2025-10-26T05:30:00Z", "2025-11-02T05:30:00Z"}, count: 2,
		},
		{
			name: "monthly last friday",
			ev:   series(1, "Europe/London", "20250131T140000", time.Hour, "FREQ=MONTHLY;BYDAY=-1FR;COUNT=4"),
			want: []string{"2025-01-31T14:00:00Z", "2025-02-28T14:00:00Z", "2025-03-28T14:00:00Z", "2025-04-25T13:00:00Z"}, count: 4,
		},
		{
			name: "utc series",
			ev:   series(1, "", "20250101T120000", time.Hour, "FREQ=DAILY;INTERVAL=10;COUNT=2"),
			want: []string{"2025-01-01T12:00:00Z", "2025-01-11T12:00:00Z"}, count: 2,
		},
		{
			name: "bad rule",
			ev:   series(1, "", "20250101T120000", time.Hour, "FREQ=SOMETIMES"),
			err:  "RRULE",
		},
		{
			name: "unknown zone",
			ev:   series(1, "", "20250101T120000", time.Hour, "FREQ=DAILY"),
			err:  "unknown TZID",
		},
		{
			name: "too many instances",
			ev:   series(1, "", "20250101T120000", time.Second, "FREQ=SECONDLY"),
			err:  "more than",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown zone" {
				tc.ev.TZID = "Mars/Olympus_Mons"
			}
			got, err := Starts(tc.ev, from, to, 0)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.count >= 0 && len(got) != tc.count {
				t.Errorf("%d instances, want %d", len(got), tc.count)
			}
			for i, w := range tc.want {
				if i >= len(got) || got[i].Format(time.RFC3339) != w {
					t.Errorf("instance %d = %v, want %s", i, got, w)
					break
				}
			}
		})
	}
}

func TestWindowOverlap(t *testing.T) {
	ev := schedule.Event{ID: 5, Type: 1, Status: 2, Start: ts("2025-10-20T13:00:00Z"), End: ts("2025-10-20T14:00:00Z")}
	tests := []struct {
		from, to string
		in       bool
	}{
		{"2025-10-20T13:30:00Z", "2025-10-21T00:00:00Z", true}, // running at from
		{"2025-10-20T14:00:00Z", "2025-10-21T00:00:00Z", false},
		{"2025-10-20T00:00:00Z", "2025-10-20T13:00:00Z", false}, // to is exclusive
		{"2025-10-20T00:00:00Z", "2025-10-20T13:00:01Z", true},
	}
	for _, tc := range tests {
		res := Expand([]schedule.Event{ev}, ts(tc.from), ts(tc.to), Options{})
		if got := len(res.Occurrences) == 1; got != tc.in {
			t.Errorf("[%s, %s): included %v, want %v", tc.from, tc.to, got, tc.in)
		}
	}
	// A series instance running at from is included too.
	s := series(9, "", "20251001T130000", time.Hour, "FREQ=DAILY")
	res := Expand([]schedule.Event{s}, ts("2025-10-05T13:30:00Z"), ts("2025-10-06T13:00:00Z"), Options{})
	if got := keys(res.Occurrences); len(got) != 1 || got[0] != "9@20251005T130000Z" {
		t.Errorf("series overlap: %v", got)
	}
}

func TestDedupeAndDeleted(t *testing.T) {
	a := schedule.Event{ID: 1, Type: 1, Status: 2, Sequence: 11, Title: "old", Start: ts("2025-10-20T13:00:00Z"), End: ts("2025-10-20T14:00:00Z")}
	b := a
	b.Sequence, b.Title = 21, "new"
	c := a
	c.ID, c.Status = 2, schedule.StatusDeleted
	res := Expand([]schedule.Event{b, a, c}, ts("2025-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"), Options{})
	if len(res.Occurrences) != 1 || res.Occurrences[0].Title != "new" {
		t.Errorf("got %+v, want only the higher SEQUENCE of event 1", res.Occurrences)
	}
}

func TestSkippedSeries(t *testing.T) {
	s := series(3, "", "20250101T120000", time.Hour, "FREQ=SOMETIMES")
	res := Expand([]schedule.Event{s}, ts("2025-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"), Options{})
	if len(res.Skipped) != 1 || res.Skipped[0].EventID != 3 {
		t.Errorf("Skipped = %+v", res.Skipped)
	}
}

func BenchmarkExpandWeeklySeries(b *testing.B) {
	s := series(1, "America/New_York", "20250106T090000", 75*time.Minute, "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20261231T000000Z")
	evs := []schedule.Event{s}
	from, to := ts("2026-06-01T00:00:00Z"), ts("2026-06-15T00:00:00Z")
	for b.Loop() {
		Expand(evs, from, to, Options{})
	}
}

// TestInvalidDatesSkipped: RFC 5545 §3.3.10 says instances on invalid
// dates (31 September) are ignored, not moved (ical.js 2.2.1 moves them to
// 1 October, which is why the differential test avoids the case).
func TestInvalidDatesSkipped(t *testing.T) {
	s := series(1, "Europe/Berlin", "20240531T070000", time.Hour, "FREQ=YEARLY;BYMONTH=5,9;COUNT=3")
	got, err := Starts(s, ts("2024-01-01T00:00:00Z"), ts("2030-01-01T00:00:00Z"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2024-05-31T05:00:00Z", "2025-05-31T05:00:00Z", "2026-05-31T05:00:00Z"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Format(time.RFC3339) != want[i] {
			t.Errorf("instance %d = %s, want %s", i, got[i].Format(time.RFC3339), want[i])
		}
	}
}
