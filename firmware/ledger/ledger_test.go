package ledger_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/firmware/ledger"
)

var ny = mustLoc("America/New_York")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// lecture writes the steps of one lecture that went well.
func lecture(t testing.TB, l *ledger.Ledger, id int64, start time.Time, title string) {
	t.Helper()
	key := fmt.Sprint(id)
	rec := fmt.Sprintf("%d-p1-%s", id, start.UTC().Format("20060102T150405Z"))
	end := start.Add(75 * time.Minute)
	o := func(at time.Time, st ledger.Step, r string, d string) ledger.Record {
		return ledger.Record{Time: at, Event: key, Ref: id, Title: title, Start: start, End: end, Rec: r, Step: st, Detail: d}
	}
	steps := []ledger.Record{
		o(start.Add(-6*24*time.Hour), ledger.StepSeen, "", ""),
		o(start, ledger.StepClock, rec, ""),
		o(start, ledger.StepOpened, rec, "part 1, "+rec),
		o(start.Add(time.Second), ledger.StepFirstFrame, rec, ""),
		o(end, ledger.StepClosed, rec, "1:15:00 recorded"),
		o(end, ledger.StepQueued, rec, ""),
		{Time: end.Add(time.Minute), Rec: rec, Step: ledger.StepToken, Detail: "token 0_abcdefgh1234567890abcdef"},
		{Time: end.Add(20 * time.Minute), Rec: rec, Step: ledger.StepEntry, Detail: "entry 0_zyx98765"},
		{Time: end.Add(25 * time.Minute), Rec: rec, Step: ledger.StepReady, Detail: "entry 0_zyx98765"},
	}
	for _, r := range steps {
		if err := l.Add(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEventAndDay(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 1, 10, 0, 0, 0, ny)
	lecture(t, l, 501, day, "CHEM 101")
	lecture(t, l, 502, day.Add(24*time.Hour), "BIO 210")
	if err := l.Add(ledger.Record{Time: day.Add(4 * time.Hour), Event: "503", Ref: 503, Title: "PHYS 300", Start: day.Add(4 * time.Hour), Step: ledger.StepClock, Reason: ledger.ClockUntrusted}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// Reopened: the upload steps, which know only the recording, were
	// written with their event.
	l, err = ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := l.Event("501")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 9 {
		t.Fatalf("event 501: %d records, want 9: %+v", len(recs), recs)
	}
	var out bytes.Buffer
	if err := l.Why(&out, "2026-12-01", day); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"CHEM 101, Kaltura event 501, Tue 1 Dec 2026 10:00-11:15", "READY in Kaltura (entry 0_zyx98765)",
		"PHYS 300", "! not started: the clock was not trusted", "Tue 1 Dec 10:00:01   first picture recorded"} {
		if !strings.Contains(got, want) {
			t.Errorf("why 2026-12-01 does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "BIO 210") {
		t.Errorf("why 2026-12-01 shows the next day's lecture:\n%s", got)
	}
	for _, bad := range []string{"{", "time.", "0001", "UTC"} {
		if strings.Contains(got, bad) {
			t.Errorf("why prints %q (Go syntax or UTC):\n%s", bad, got)
		}
	}
	out.Reset()
	if err := l.Why(&out, "drop table", day); err == nil {
		t.Errorf("why accepted %q", "drop table")
	}
}

// A power cut in the middle of a write leaves a torn last line: it is
// skipped, and the next record starts on a line of its own.
func TestTornLine(t *testing.T) {
	dir := t.TempDir()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := l.Add(ledger.Record{Time: t0, Event: "1", Step: ledger.StepSeen}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, err := os.OpenFile(segs[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"t":"2026-12-01T10:00:01Z","k":"1","st":"op`)
	f.Close()
	l, err = ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Add(ledger.Record{Time: t0.Add(time.Minute), Event: "1", Step: ledger.StepOpened}); err != nil {
		t.Fatal(err)
	}
	recs, err := l.Event("1")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Step != ledger.StepSeen || recs[1].Step != ledger.StepOpened {
		t.Errorf("after a torn line: %+v", recs)
	}
}

// The ledger never holds more than MaxBytes plus one segment; the oldest
// records go first.
func TestBounded(t *testing.T) {
	dir := t.TempDir()
	o := ledger.NoSync(ledger.Options{SegmentBytes: 4 << 10, MaxBytes: 16 << 10})
	l, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, ny)
	for i := range 400 {
		lecture(t, l, int64(1000+i), t0.Add(time.Duration(i)*24*time.Hour), "Lecture")
		if sz := dirSize(t, dir); sz > 20<<10 {
			t.Fatalf("after %d lectures the ledger holds %d bytes, over 16KiB + a 4KiB segment", i+1, sz)
		}
	}
	if recs, _ := l.Event("1000"); len(recs) != 0 {
		t.Errorf("the oldest lecture is still there: %d records", len(recs))
	}
	if recs, _ := l.Event("1399"); len(recs) != 9 {
		t.Errorf("the newest lecture has %d records, want 9", len(recs))
	}
}

func dirSize(t testing.TB, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// year writes a year of four lectures a day into dir with the default
// bounds and returns the ledger.
func year(t testing.TB, dir string) *ledger.Ledger {
	l, err := ledger.Open(dir, ledger.NoSync(ledger.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, ny)
	id := int64(700000)
	for d := range 365 {
		for h := range 4 {
			id++
			lecture(t, l, id, t0.AddDate(0, 0, d).Add(time.Duration(2*h)*time.Hour), "CHEM 101 General Chemistry, Section 2")
		}
	}
	return l
}

// YearSize is the stated bound: a year of four lectures a day (nine steps
// each, the READY path: 2.97 MB measured) stays under 3.5 MiB and nothing of it is rotated
// away under the default 4 MiB cap.
const YearSize = 7 << 19 // 3.5 MiB

func TestYearFits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a year of records")
	}
	dir := t.TempDir()
	l := year(t, dir)
	sz := dirSize(t, dir)
	t.Logf("a year of four lectures a day: %d bytes", sz)
	if sz > YearSize {
		t.Errorf("a year takes %d bytes, over the stated %d", sz, YearSize)
	}
	if recs, _ := l.Event("700001"); len(recs) != 9 {
		t.Errorf("the year's first lecture has %d records, want 9 (rotated away?)", len(recs))
	}
}

// BenchmarkWhyDay reads `why DATE` for a day of a year-long ledger (the
// goal: under 100 ms on the box's machine).
func BenchmarkWhyDay(b *testing.B) {
	l := year(b, b.TempDir())
	day := time.Date(2026, 7, 14, 12, 0, 0, 0, ny)
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := l.Why(&out, "", day); err != nil {
			b.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "READY") {
		b.Fatalf("why printed:\n%s", out.String())
	}
}

// BenchmarkWhyEvent reads `why EVENT-ID` in a year-long ledger.
func BenchmarkWhyEvent(b *testing.B) {
	l := year(b, b.TempDir())
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		if err := l.Why(&out, "700777", time.Now().In(ny)); err != nil {
			b.Fatal(err)
		}
	}
}
