package syncer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
	"github.com/capturebox/capturebox/upload/kaltura"
)

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

func (e *env) generate(n int, start time.Time, every time.Duration) []int64 {
	return e.store.GenerateEvents(pid, resource, n, start, simsched.GenerateOptions{Every: every})
}

func (e *env) mustSync() *Snapshot {
	e.t.Helper()
	if err := e.s.sync1(context.Background()); err != nil {
		e.t.Fatalf("sync1: %v", err)
	}
	return e.s.Current()
}

// failSync runs a sync that must fail and checks that the box still acts
// on the last good schedule, in memory and on disk.
func (e *env) failSync() error {
	e.t.Helper()
	before := e.s.Current()
	onDisk, _ := e.cache.Load()
	err := e.s.sync1(context.Background())
	if err == nil {
		e.t.Fatal("sync1 succeeded")
	}
	if e.s.Current() != before {
		e.t.Fatal("a failed sync replaced the schedule")
	}
	after, _ := e.cache.Load()
	if (onDisk == nil) != (after == nil) || (after != nil && (len(after.Events) != len(onDisk.Events) || !after.FetchedAt.Equal(onDisk.FetchedAt))) {
		e.t.Fatal("a failed sync replaced the cache")
	}
	return err
}

// keys returns the plan entries of a snapshot by occurrence key.
func keys(s *Snapshot) map[string]plan.Entry {
	m := map[string]plan.Entry{}
	if s == nil {
		return m
	}
	for _, e := range s.Plan.Entries {
		m[e.Key] = e
	}
	return m
}

func wantIDs(t *testing.T, s *Snapshot, ids []int64) {
	t.Helper()
	if s == nil {
		t.Fatal("no schedule")
	}
	got := map[int64]bool{}
	for _, ev := range s.Events {
		got[ev.ID] = true
	}
	if len(got) != len(ids) || len(s.Events) != len(ids) {
		t.Fatalf("schedule has %d events, want %d", len(s.Events), len(ids))
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("event %d missing", id)
		}
	}
}

func without(ids []int64, drop ...int64) []int64 {
	out := []int64{}
	for _, id := range ids {
		keep := true
		for _, d := range drop {
			keep = keep && id != d
		}
		if keep {
			out = append(out, id)
		}
	}
	return out
}

func TestSyncOutageOnPage3KeepsLastGood(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(2400, t0, 5*time.Minute) // 5 pages
	e.ready()
	good := e.mustSync()
	wantIDs(t, good, ids)
	// The schedule changes, then page 3 of the next sync fails.
	if _, err := e.store.DeleteEvent(pid, ids[2000]); err != nil {
		t.Fatal(err)
	}
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Service: "schedule_scheduleevent", Action: "list", Nth: 3, Status: 503})
	err := e.failSync()
	if kaltura.Classify(err) != kaltura.ClassTransient {
		t.Fatalf("class of %v", err)
	}
	wantIDs(t, e.s.Current(), ids)
	// The outage ends.
	wantIDs(t, e.mustSync(), without(ids, ids[2000]))
}

func TestSyncExpiredKSOnPage2(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(1200, t0, 10*time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Nth: 2})
	wantIDs(t, e.mustSync(), ids)
	if e.ks.logins != 2 {
		t.Fatalf("%d logins, want 2", e.ks.logins)
	}
}

func TestSyncEditedSeriesReplacesOccurrences(t *testing.T) {
	e := newEnv(t, nil)
	ny, _ := time.LoadLocation("America/New_York")
	start := time.Date(2025, 9, 2, 9, 0, 0, 0, ny)
	series, err := e.store.AddEvent(pid, simsched.Event{
		Summary: "CHEM 101 Lecture", StartDate: start.Unix(), Duration: 4500,
		RecurrenceType: simsched.RecurrenceRecurring, TemplateEntryID: "1_xy98zw76", ResourceIDs: []int64{resource},
		Recurrence: &simsched.Recurrence{Frequency: "weeks", ByDay: "TU,TH", TimeZone: "America/New_York", Count: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ready()
	before := e.mustSync()
	var oldKeys []string
	for k, o := range keys(before) {
		if o.ParentID != series.ID || o.Key != strconv.FormatInt(o.EventID, 10) {
			t.Fatalf("occurrence %+v", o)
		}
		if h, m := o.Start.In(ny).Hour(), o.Start.In(ny).Minute(); h != 9 || m != 0 {
			t.Fatalf("occurrence %s at %v", k, o.Start.In(ny))
		}
		oldKeys = append(oldKeys, k)
	}
	if len(oldKeys) != 4 { // Tue/Thu in the two weeks from 1 September
		t.Fatalf("%d occurrences in the window, want 4", len(oldKeys))
	}
	// Edit the series: every occurrence moves to 10:00 and gets a new id.
	e.sim.AdvanceClock(time.Minute)
	if _, err := e.store.UpdateEvent(pid, series.ID, func(ev *simsched.Event) {
		ev.StartDate = start.Add(time.Hour).Unix()
	}); err != nil {
		t.Fatal(err)
	}
	e.logs.Reset()
	after := e.mustSync()
	ak := keys(after)
	if len(ak) != 4 {
		t.Fatalf("%d occurrences after the edit", len(ak))
	}
	for _, k := range oldKeys {
		if _, ok := ak[k]; ok {
			t.Fatalf("old occurrence %s still scheduled", k)
		}
	}
	for _, o := range ak {
		if o.Start.In(ny).Hour() != 10 {
			t.Fatalf("new occurrence at %v", o.Start.In(ny))
		}
	}
	log := e.logs.String()
	if !strings.Contains(log, "schedule synced, changed") || !strings.Contains(log, "added=4") || !strings.Contains(log, "removed=4") {
		t.Fatalf("diff not logged:\n%s", log)
	}
	for _, k := range oldKeys {
		if !strings.Contains(log, k) {
			t.Fatalf("removed key %s not in the log", k)
		}
	}
	d := plan.Diff(before.Plan, after.Plan)
	if len(d.Added) != 4 || len(d.Removed) != 4 || len(d.Changed) != 0 {
		t.Fatalf("diff %+v", d)
	}
}

func TestSyncCancelledOccurrenceShownNotRecordable(t *testing.T) {
	e := newEnv(t, nil)
	series, err := e.store.AddEvent(pid, simsched.Event{
		Summary: "Daily", StartDate: t0.Add(time.Hour).Unix(), Duration: 3600,
		RecurrenceType: simsched.RecurrenceRecurring, ResourceIDs: []int64{resource},
		Recurrence: &simsched.Recurrence{Frequency: "days", Count: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	occ := e.store.Occurrences(pid, series.ID)
	e.ready()
	s1 := e.mustSync()
	if len(s1.Plan.Entries) != 5 {
		t.Fatalf("%d occurrences", len(s1.Plan.Entries))
	}
	target := strconv.FormatInt(occ[2].ID, 10)
	if !keys(s1)[target].Record {
		t.Fatal("active occurrence not recordable")
	}
	if _, err := e.store.CancelEvent(pid, occ[2].ID); err != nil {
		t.Fatal(err)
	}
	s2 := e.mustSync()
	o, ok := keys(s2)[target]
	if !ok {
		t.Fatal("cancelled occurrence not shown")
	}
	if o.Status != schedule.StatusCancelled || o.Record {
		t.Fatalf("cancelled occurrence %+v", o)
	}
	if d := plan.Diff(s1.Plan, s2.Plan); len(d.Changed) != 1 || d.Changed[0].New.Key != target {
		t.Fatalf("diff %+v", d)
	}
}

func TestSyncDeletedEventLeaves(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(30, t0, time.Hour)
	e.ready()
	wantIDs(t, e.mustSync(), ids)
	if _, err := e.store.DeleteEvent(pid, ids[7]); err != nil {
		t.Fatal(err)
	}
	s := e.mustSync()
	wantIDs(t, s, without(ids, ids[7]))
	if _, ok := keys(s)[strconv.FormatInt(ids[7], 10)]; ok {
		t.Fatal("deleted event still has an occurrence")
	}
}

func TestSyncMalformedPageKeepsLastGood(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rewrite func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
		{"not a calendar", func(b []byte) []byte {
			return bytes.Replace(b, []byte("BEGIN:VCALENDAR"), []byte("<html>captive portal</html>"), 1)
		}},
		{"event without id", func(b []byte) []byte {
			return regexp.MustCompile(`X-KALTURA-ID:\d+\r\n`).ReplaceAll(b, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			ids := e.generate(20, t0, time.Hour)
			e.ready()
			wantIDs(t, e.mustSync(), ids)
			e.generate(1, t0.Add(30*time.Minute), time.Hour)
			e.setRewrite(tc.rewrite)
			e.failSync()
			wantIDs(t, e.s.Current(), ids)
		})
	}
}

func TestSyncVERRORIsTyped(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(5, t0, time.Hour)
	e.ready()
	e.mustSync()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultAPIError, Service: "schedule_scheduleevent", Action: "list", Code: "ACCESS_UNAUTHORIZED"})
	err := e.failSync()
	var ae *kaltura.APIError
	if !errors.As(err, &ae) || ae.Code != "ACCESS_UNAUTHORIZED" || classOf(err) != kaltura.ClassConfig {
		t.Fatalf("err %v", err)
	}
	wantIDs(t, e.s.Current(), ids)
}

// If a VERROR slipped past the fetcher, the parser's typed error fails the
// sync too.
func TestSyncParserVERROR(t *testing.T) {
	e := newEnv(t, nil)
	e.generate(5, t0, time.Hour)
	e.ready()
	e.s.cfg.Fetcher = fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		body := "BEGIN:VCALENDAR\r\nBEGIN:VERROR\r\nX-KALTURA-CODE:INVALID_KS\r\nX-KALTURA-MESSAGE:m\r\nX-KALTURA-ARGUMENTS:EXPIRED\r\nEND:VERROR\r\nEND:VCALENDAR\r\n"
		return &fetch.Listing{Transport: "https", From: req.Now, To: req.Now.Add(time.Hour), Pages: []fetch.Page{{Name: "page 1", Body: []byte(body)}}}, nil
	})
	err := e.failSync()
	var ke *icalparse.KalturaError
	if !errors.As(err, &ke) || !errors.Is(err, icalparse.ErrSessionExpired) {
		t.Fatalf("err %v", err)
	}
}

type fetcherFunc func(ctx context.Context, req fetch.Request) (*fetch.Listing, error)

func (f fetcherFunc) Fetch(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
	return f(ctx, req)
}

func TestSyncTotalCountMismatchRejected(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(8, t0, time.Hour)
	e.ready()
	e.mustSync()
	e.generate(2, t0.Add(90*time.Minute), time.Hour)
	e.setRewrite(func(b []byte) []byte {
		return regexp.MustCompile(`X-KALTURA-TOTAL-COUNT:\d+`).ReplaceAll(b, []byte("X-KALTURA-TOTAL-COUNT:11"))
	})
	err := e.failSync()
	if !errors.Is(err, fetch.ErrIncomplete) {
		t.Fatalf("err %v", err)
	}
	wantIDs(t, e.s.Current(), ids)
}

func TestSyncGzip(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(600, t0, 10*time.Minute)
	e.ready()
	e.gzipOn = true
	wantIDs(t, e.mustSync(), ids)
	if e.gzipped < 2 {
		t.Fatalf("%d gzip replies", e.gzipped)
	}
}

func TestSyncOverCapKeepsLastGood(t *testing.T) {
	e := newEnv(t, func(o *fetch.HTTPSOptions) { o.MaxBytes = 64 << 10 })
	ids := e.generate(40, t0, time.Hour)
	e.ready()
	wantIDs(t, e.mustSync(), ids)
	e.generate(200, t0.Add(30*time.Minute), time.Minute)
	err := e.failSync()
	if !errors.Is(err, fetch.ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
	wantIDs(t, e.s.Current(), ids)
}

func TestSyncRejectedEventKeepsLastGoodVersion(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(5, t0, time.Hour)
	e.ready()
	s1 := e.mustSync()
	// Event ids[2] now arrives unreadable (bad DTSTART); the parser rejects
	// it; the box keeps its last good version rather than dropping it.
	e.setRewrite(func(b []byte) []byte {
		i := bytes.Index(b, []byte("X-KALTURA-ID:"+strconv.FormatInt(ids[2], 10)))
		j := bytes.LastIndex(b[:i], []byte("DTSTART:"))
		out := append([]byte(nil), b[:j]...)
		out = append(out, "DTSTART:garbage"...)
		k := j + bytes.Index(b[j:], []byte("\r\n"))
		return append(out, b[k:]...)
	})
	s2 := e.mustSync()
	wantIDs(t, s2, ids)
	if s2.Rejected != 1 {
		t.Fatalf("rejected %d", s2.Rejected)
	}
	k := strconv.FormatInt(ids[2], 10)
	if !keys(s2)[k].Start.Equal(keys(s1)[k].Start) {
		t.Fatal("kept version differs")
	}
	// A new event that is unreadable from the start is left out.
	e2 := newEnv(t, nil)
	ids2 := e2.generate(3, t0, time.Hour)
	e2.ready()
	e2.setRewrite(func(b []byte) []byte { return bytes.Replace(b, []byte("DTSTART:"), []byte("DTSTART:x"), 1) })
	wantIDs(t, e2.mustSync(), ids2[1:])
}

// The server's filter is not trusted alone: an event on another resource
// stays in the listing (and the cache) but not in the plan.
func TestSyncPlanKeepsOnlyThisResource(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(4, t0, time.Hour)
	e.ready()
	e.setRewrite(func(b []byte) []byte {
		return bytes.Replace(b, []byte("X-KALTURA-RESOURCE-IDS:58"), []byte("X-KALTURA-RESOURCE-IDS:59"), 1)
	})
	s := e.mustSync()
	wantIDs(t, s, ids)
	if len(s.Plan.Entries) != 3 {
		t.Fatalf("%d plan entries, want 3", len(s.Plan.Entries))
	}
	if _, ok := keys(s)[strconv.FormatInt(ids[0], 10)]; ok {
		t.Fatal("event of another resource planned")
	}
}

func TestBootFromCache(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(50, t0, time.Hour)
	e.ready()
	good := e.mustSync()

	// A new boot: the schedule is there before any network.
	s2 := e.newSyncer(fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		return nil, errors.New("network down")
	}))
	if err := s2.LoadCache(); err != nil {
		t.Fatal(err)
	}
	c := s2.Current()
	wantIDs(t, c, ids)
	if !c.FromCache || len(c.Plan.Entries) != len(good.Plan.Entries) {
		t.Fatalf("cached schedule: fromCache=%v, %d entries", c.FromCache, len(c.Plan.Entries))
	}
	if d := plan.Diff(good.Plan, c.Plan); !d.Empty() {
		t.Fatalf("cache round trip changed occurrences: %+v", d)
	}
	select {
	case <-s2.Updates():
	default:
		t.Fatal("no update signal after loading the cache")
	}
	if err := s2.sync1(context.Background()); err == nil || s2.Current() != c {
		t.Fatal("failed sync after boot replaced the cached schedule")
	}

	// A corrupt cache is reported, kept as .bad, and ignored.
	b, _ := os.ReadFile(e.cache.Path())
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(e.cache.Path(), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s3 := e.newSyncer(e.s.cfg.Fetcher)
	if err := s3.LoadCache(); err == nil {
		t.Fatal("corrupt cache loaded")
	}
	if s3.Current() != nil || s3.Status().CacheError == "" {
		t.Fatal("corrupt cache used or not reported")
	}
	if _, err := os.Stat(e.cache.Path() + ".bad"); err != nil {
		t.Fatal("corrupt cache not kept as .bad")
	}
	// The next sync rebuilds it.
	if err := s3.sync1(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, s3.Current(), ids)
	if s3.Status().CacheError != "" {
		t.Fatal("cache error not cleared")
	}
}

func TestSyncNoSecretsInLogs(t *testing.T) {
	e := newEnv(t, nil)
	e.generate(600, t0, time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Nth: 2})
	e.mustSync()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Always: true})
	err := e.failSync()
	ks, _ := e.ks.KS(context.Background())
	now := e.s.cfg.Clock()
	e.s.record(now, err)
	for _, s := range []string{e.logs.String(), err.Error(), e.s.Status().LastError} {
		if strings.Contains(s, ks) || strings.Contains(s, "djJ8") {
			t.Fatalf("KS leaked: %s", s)
		}
	}
}

// Unchanged events are not parsed again; the result equals a full parse.
func TestSyncReparsesOnlyChangedEvents(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(700, t0, 10*time.Minute)
	e.ready()
	var mu sync.Mutex
	parsed := 0
	e.s.cfg.Parse = func(b []byte) (*icalparse.Calendar, error) {
		mu.Lock()
		parsed += bytes.Count(b, []byte("BEGIN:VEVENT"))
		mu.Unlock()
		return icalparse.Parse(bytes.NewReader(b), icalparse.Options{})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := parsed
		parsed = 0
		return n
	}
	e.mustSync()
	if n := count(); n != 700 {
		t.Fatalf("first sync parsed %d events", n)
	}
	e.mustSync()
	if n := count(); n != 0 {
		t.Fatalf("unchanged sync parsed %d events", n)
	}
	e.sim.AdvanceClock(time.Minute)
	if _, err := e.store.UpdateEvent(pid, ids[600], func(ev *simsched.Event) { ev.Summary = "Moved to Hall C" }); err != nil {
		t.Fatal(err)
	}
	added := e.generate(1, t0.Add(time.Hour), time.Hour)
	s := e.mustSync()
	if n := count(); n != 2 {
		t.Fatalf("sync after one edit and one insert parsed %d events", n)
	}
	if keys(s)[strconv.FormatInt(ids[600], 10)].Title != "Moved to Hall C" {
		t.Fatal("edit not seen")
	}
	wantIDs(t, s, append(append([]int64{}, ids...), added...))
	// A fresh syncer parsing everything agrees.
	fresh := e.newSyncer(e.s.cfg.Fetcher)
	if err := fresh.sync1(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !sameEvents(fresh.Current().Events, s.Events) {
		t.Fatal("incremental parse differs from a full parse")
	}
}
