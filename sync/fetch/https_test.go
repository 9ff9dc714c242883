package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
	"github.com/capturebox/capturebox/upload/kaltura"
)

func fetchOK(t *testing.T, h *fetch.HTTPS) *fetch.Listing {
	t.Helper()
	l, err := h.Fetch(context.Background(), fetch.Request{Now: t0})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return l
}

func checkIDs(t *testing.T, l *fetch.Listing, want []int64) {
	t.Helper()
	got := l.IDs()
	if len(got) != len(want) || l.Total != len(want) {
		t.Fatalf("listing has %d ids (total %d), want %d", len(got), l.Total, len(want))
	}
	w := idSet(want)
	for _, id := range got {
		if !w[id] {
			t.Fatalf("unexpected id %d", id)
		}
	}
}

func TestHTTPSCompleteListingAndFilter(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(1234, t0.Add(-30*time.Minute), 15*time.Minute)
	// Outside the window: ended before now, or starting after 14 days.
	e.generate(3, t0.Add(-48*time.Hour), time.Hour)
	e.generate(3, t0.Add(15*24*time.Hour), time.Hour)
	e.ready()
	l := fetchOK(t, e.https(t, nil))
	checkIDs(t, l, ids)
	if len(l.Pages) != 3 {
		t.Fatalf("%d pages, want 3", len(l.Pages))
	}
	if l.Transport != "https" || !strings.Contains(l.Source, "resource 58") {
		t.Fatalf("source %q %q", l.Transport, l.Source)
	}
	if !l.From.Equal(t0) || !l.To.Equal(t0.Add(fetch.DefaultWindow)) {
		t.Fatalf("window %v–%v", l.From, l.To)
	}
	reqs := e.listRequests()
	if len(reqs) != 4 || !reqs[3].Has("filter:updatedAtGreaterThanOrEqual") {
		t.Fatalf("%d list calls, want 3 pages and 1 verification", len(reqs))
	}
	if got, want := reqs[3].Get("filter:updatedAtGreaterThanOrEqual"), strconv.FormatInt(t0.Add(-10*time.Minute).Unix(), 10); got != want {
		t.Fatalf("verification since %s, want %s", got, want)
	}
	reqs = reqs[:3]
	want := map[string]string{
		"format":                           "ical",
		"filter:objectType":                "KalturaRecordScheduleEventFilter",
		"filter:resourceIdsLike":           "58",
		"filter:recurrenceTypeIn":          "0,2",
		"filter:statusIn":                  "1,2",
		"filter:orderBy":                   "+startDate",
		"filter:endDateGreaterThanOrEqual": strconv.FormatInt(t0.Unix(), 10),
		"filter:startDateLessThanOrEqual":  strconv.FormatInt(t0.Add(14*24*time.Hour).Unix(), 10),
		"pager:pageSize":                   "500",
	}
	for i, r := range reqs {
		for k, v := range want {
			if r.Get(k) != v {
				t.Errorf("request %d: %s=%q, want %q", i+1, k, r.Get(k), v)
			}
		}
		if r.Get("pager:pageIndex") != strconv.Itoa(i+1) {
			t.Errorf("request %d: pageIndex %q", i+1, r.Get("pager:pageIndex"))
		}
		if r.Get("ks") == "" {
			t.Errorf("request %d: no ks in the body", i+1)
		}
	}
}

func TestHTTPSAllTypesAndLocation(t *testing.T) {
	e := newSimEnv(t)
	e.ready()
	h := e.https(t, func(o *fetch.HTTPSOptions) {
		o.Filter = fetch.Filter{ResourceID: resource, ParentResourceID: 12, AllTypes: true, RecurrenceTypes: []int{0, 1, 2}}
		o.Window = 2 * time.Hour
	})
	l := fetchOK(t, h)
	if l.Total != 0 || len(l.Pages) != 1 {
		t.Fatalf("empty schedule: total %d, %d pages", l.Total, len(l.Pages))
	}
	r := e.listRequests()[0]
	for k, v := range map[string]string{
		"filter:objectType": "KalturaScheduleEventFilter", "filter:resourceIdsMultiLikeOr": "58,12",
		"filter:recurrenceTypeIn": "0,1,2", "filter:startDateLessThanOrEqual": strconv.FormatInt(t0.Add(2*time.Hour).Unix(), 10),
	} {
		if r.Get(k) != v {
			t.Errorf("%s=%q, want %q", k, r.Get(k), v)
		}
	}
	if r.Has("filter:resourceIdsLike") || r.Has("filter:parentResourceIdsLike") {
		t.Error("resourceIdsLike or parentResourceIdsLike sent with a room")
	}
}

func TestHTTPSOutageOnPage3(t *testing.T) {
	e := newSimEnv(t)
	e.generate(2400, t0, 5*time.Minute) // 5 pages
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Service: "schedule_scheduleevent", Action: "list", Nth: 3, Status: 503})
	l, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
	if err == nil {
		t.Fatalf("fetch succeeded with %d pages", len(l.Pages))
	}
	var pe *fetch.PageError
	if !errors.As(err, &pe) || pe.Page != "page 3" {
		t.Fatalf("error %v, want a page 3 error", err)
	}
	if c := kaltura.Classify(err); c != kaltura.ClassTransient {
		t.Fatalf("class %v, want transient", c)
	}
	if l != nil {
		t.Fatal("a partial listing was returned")
	}
}

func TestHTTPSExpiredKSOnPage2(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(1200, t0, 10*time.Minute)
	e.ready()
	f := e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Nth: 2})
	l := fetchOK(t, e.https(t, nil))
	checkIDs(t, l, ids)
	if e.sim.Faults().Fired(f) != 1 {
		t.Fatal("fault did not fire")
	}
	if n := e.ks.Logins(); n != 2 {
		t.Fatalf("%d logins, want 2 (one renewal)", n)
	}
	reqs := e.listRequests()
	if len(reqs) != 5 || reqs[1].Get("pager:pageIndex") != "2" || reqs[2].Get("pager:pageIndex") != "2" {
		t.Fatalf("calls: %d; want page 2 retried once", len(reqs))
	}
	if reqs[1].Get("ks") == reqs[2].Get("ks") {
		t.Fatal("page 2 retried with the expired KS")
	}
}

func TestHTTPSExpiredTwiceFails(t *testing.T) {
	e := newSimEnv(t)
	e.generate(10, t0, 10*time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Always: true})
	_, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
	if kaltura.Code(err) != "INVALID_KS" {
		t.Fatalf("err %v", err)
	}
	if n := len(e.listRequests()); n != 2 {
		t.Fatalf("%d calls, want 2 (one retry)", n)
	}
}

func TestHTTPSVERRORIsTyped(t *testing.T) {
	e := newSimEnv(t)
	e.generate(10, t0, 10*time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultAPIError, Service: "schedule_scheduleevent", Action: "list",
		Code: "SERVICE_FORBIDDEN", Message: "The access to service [schedule_scheduleevent->list] is forbidden"})
	_, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
	var ae *kaltura.APIError
	if !errors.As(err, &ae) || ae.Code != "SERVICE_FORBIDDEN" {
		t.Fatalf("err %v, want *kaltura.APIError SERVICE_FORBIDDEN", err)
	}
	if kaltura.Classify(err) != kaltura.ClassConfig {
		t.Fatalf("class %v", kaltura.Classify(err))
	}
}

// A VERROR inside an otherwise normal page (a proxy could splice one in).
func TestHTTPSVERRORInsidePage(t *testing.T) {
	e := newSimEnv(t)
	e.generate(10, t0, 10*time.Minute)
	e.ready()
	e.rewrite = func(n int, b []byte) []byte {
		return bytes.Replace(b, []byte("X-KALTURA-TOTAL-COUNT"), []byte("BEGIN:VERROR\r\nX-KALTURA-CODE:LOCK_TIMED_OUT\r\nX-KALTURA-MESSAGE:lock\r\nX-KALTURA-ARGUMENTS:\r\nEND:VERROR\r\nX-KALTURA-TOTAL-COUNT"), 1)
	}
	_, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
	if kaltura.Code(err) != "LOCK_TIMED_OUT" || kaltura.Classify(err) != kaltura.ClassTransient {
		t.Fatalf("err %v", err)
	}
}

func TestHTTPSTotalCountMismatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rewrite func(n int, b []byte) []byte
		n       int
	}{
		{"total larger than the events", func(n int, b []byte) []byte {
			return replaceTotal(b, 11)
		}, 10},
		{"no total", func(n int, b []byte) []byte {
			return replaceTotal(b, -1)
		}, 10},
		{"last page short", func(n int, b []byte) []byte {
			if n%2 == 0 { // every second page loses its last event
				i := bytes.LastIndex(b, []byte("BEGIN:VEVENT"))
				j := bytes.LastIndex(b, []byte("END:VEVENT\r\n"))
				return append(append([]byte(nil), b[:i]...), b[j+len("END:VEVENT\r\n"):]...)
			}
			return b
		}, 600},
		{"truncated page", func(n int, b []byte) []byte { return b[:len(b)/2] }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			e.generate(tc.n, t0, time.Minute)
			e.ready()
			e.rewrite = tc.rewrite
			l, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
			if err == nil {
				t.Fatalf("accepted an incomplete listing of %d events", l.Total)
			}
			if tc.name != "truncated page" && !errors.Is(err, fetch.ErrIncomplete) {
				t.Fatalf("err %v, want ErrIncomplete", err)
			}
		})
	}
}

func replaceTotal(b []byte, total int) []byte {
	i := bytes.Index(b, []byte("X-KALTURA-TOTAL-COUNT:"))
	j := i + bytes.IndexByte(b[i:], '\n') + 1
	line := ""
	if total >= 0 {
		line = fmt.Sprintf("X-KALTURA-TOTAL-COUNT:%d\r\n", total)
	}
	return append(append(append([]byte(nil), b[:i]...), line...), b[j:]...)
}

func TestHTTPSGzip(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(700, t0, time.Minute)
	e.ready()
	e.gzipOn = true
	l := fetchOK(t, e.https(t, nil))
	checkIDs(t, l, ids)
	if e.gzipped != 3 {
		t.Fatalf("%d compressed replies, want 3 (2 pages, 1 verification)", e.gzipped)
	}
}

func TestHTTPSOverCap(t *testing.T) {
	e := newSimEnv(t)
	e.generate(100, t0, time.Minute)
	e.ready()
	e.gzipOn = true // the cap applies to the decompressed body
	_, err := e.https(t, func(o *fetch.HTTPSOptions) { o.MaxBytes = 16 << 10 }).Fetch(context.Background(), fetch.Request{Now: t0})
	if !errors.Is(err, fetch.ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

func TestHTTPSTooManyEvents(t *testing.T) {
	e := newSimEnv(t)
	e.generate(fetch.MaxMatches+1, t0, time.Minute) // about 7 days
	e.ready()
	_, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0})
	if !errors.Is(err, fetch.ErrTooManyEvents) {
		t.Fatalf("err %v", err)
	}
	for _, r := range e.listRequests() {
		if r.Get("pager:pageIndex") != "1" {
			t.Fatal("paged although the total was over the limit")
		}
	}
	l := fetchOK(t, e.https(t, func(o *fetch.HTTPSOptions) { o.NarrowOnOverflow = true }))
	if got := l.To.Sub(l.From); got != 3*24*time.Hour+12*time.Hour {
		t.Fatalf("narrowed window %v, want 3.5 days", got)
	}
	if want := int(l.To.Sub(t0)/time.Minute) + 1; l.Total != want {
		t.Fatalf("total %d, want %d", l.Total, want)
	}
}

func TestHTTPSClockNotSet(t *testing.T) {
	e := newSimEnv(t)
	for _, now := range []time.Time{{}, time.Unix(1209600, 0)} {
		if _, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: now}); !errors.Is(err, fetch.ErrClockNotSet) {
			t.Fatalf("%v: err %v", now, err)
		}
	}
	if len(e.listRequests()) != 0 {
		t.Fatal("called the server with an untrusted clock")
	}
}

// Events move while the pager walks: the fetcher must start over and return
// the state after the change, whole.
func TestHTTPSDataMovesWhilePaging(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *simEnv, ids []int64) (gone, added []int64)
	}{
		{"insert (total changes)", func(e *simEnv, ids []int64) ([]int64, []int64) {
			return nil, e.generate(1, t0.Add(time.Hour), time.Hour)
		}},
		{"delete one, insert one (total stays)", func(e *simEnv, ids []int64) ([]int64, []int64) {
			if _, err := e.store.DeleteEvent(pid, ids[10]); err != nil {
				e.t.Fatal(err)
			}
			return []int64{ids[10]}, e.generate(1, t0.Add(20*time.Hour), time.Hour)
		}},
		{"edit moves an event to an earlier page", func(e *simEnv, ids []int64) ([]int64, []int64) {
			_, err := e.store.UpdateEvent(pid, ids[1100], func(ev *simsched.Event) {
				ev.StartDate -= 1000 * 60
				ev.EndDate -= 1000 * 60
			})
			if err != nil {
				e.t.Fatal(err)
			}
			return nil, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			ids := e.generate(1300, t0, time.Minute)
			e.ready()
			var gone, added []int64
			e.hook = func(n int, f url.Values) {
				if n == 3 { // before page 3 of the first listing
					e.sim.AdvanceClock(time.Minute)
					gone, added = tc.change(e, ids)
				}
			}
			l := fetchOK(t, e.https(t, nil))
			want := []int64{}
			g := idSet(gone)
			for _, id := range ids {
				if !g[id] {
					want = append(want, id)
				}
			}
			want = append(want, added...)
			checkIDs(t, l, want)
			if l.Stats.Relists == 0 {
				t.Fatal("no re-listing")
			}
			// The result must be the state after the change.
			for _, p := range l.Pages {
				if tc.name == "edit moves an event to an earlier page" && bytes.Contains(p.Body, []byte("X-KALTURA-ID:"+itoa(ids[1100]))) && p.Name != "page 1" {
					t.Fatalf("moved event found on %s", p.Name)
				}
			}
		})
	}
}

func TestHTTPSKeepsChangingFails(t *testing.T) {
	e := newSimEnv(t)
	e.generate(1100, t0, time.Minute)
	e.ready()
	e.hook = func(n int, f url.Values) {
		if f.Get("pager:pageIndex") == "2" && !f.Has("filter:updatedAtGreaterThanOrEqual") {
			e.generate(1, t0.Add(time.Hour), time.Hour)
		}
	}
	_, err := e.https(t, func(o *fetch.HTTPSOptions) { o.MaxRelists = 2 }).Fetch(context.Background(), fetch.Request{Now: t0})
	if !errors.Is(err, fetch.ErrIncomplete) {
		t.Fatalf("err %v", err)
	}
}

func TestHTTPSRecentEditsNeedTwoListings(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(700, t0, time.Minute)
	e.ready()
	if _, err := e.store.UpdateEvent(pid, ids[5], func(ev *simsched.Event) { ev.Summary = "edited" }); err != nil {
		t.Fatal(err)
	}
	l := fetchOK(t, e.https(t, nil))
	checkIDs(t, l, ids)
	// listing (2) + check (1) + listing (2) + check (1)
	if n := len(e.listRequests()); n != 6 || l.Stats.Relists != 1 {
		t.Fatalf("%d calls, %d relists", n, l.Stats.Relists)
	}
}

func TestHTTPSPageTimeout(t *testing.T) {
	e := newSimEnv(t)
	e.generate(10, t0, time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultTimeout, Service: "schedule_scheduleevent", Action: "list"})
	_, err := e.https(t, func(o *fetch.HTTPSOptions) { o.Timeout = 50 * time.Millisecond }).Fetch(context.Background(), fetch.Request{Now: t0})
	if err == nil || kaltura.Classify(err) != kaltura.ClassTransient {
		t.Fatalf("err %v", err)
	}
}

// The real app-token session (upload/kaltura) against the simulator.
func TestHTTPSWithAppTokenSession(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(600, t0, 10*time.Minute)
	e.ready()
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "schedule_scheduleevent", Action: "list", Nth: 2})
	if _, err := e.sess.KS(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := fetchOK(t, e.https(t, func(o *fetch.HTTPSOptions) { o.Session = e.sess }))
	checkIDs(t, l, ids)
	if n := e.sess.Logins(); n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
}

// OnPage sees every page of every listing as it arrives (the one returned
// and those abandoned by a re-listing), never a verification page, and the
// pages of the listing returned are among them with the same bytes.
func TestHTTPSOnPage(t *testing.T) {
	e := newSimEnv(t)
	ids := e.generate(1100, t0, time.Minute)
	e.ready()
	e.hook = func(n int, f url.Values) {
		if n == 3 { // before page 3 of the first listing: it moves
			e.sim.AdvanceClock(time.Minute)
			e.generate(1, t0.Add(time.Hour), time.Hour)
		}
	}
	var seen []fetch.Page
	l, err := e.https(t, nil).Fetch(context.Background(), fetch.Request{Now: t0, OnPage: func(p fetch.Page) { seen = append(seen, p) }})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, l, l.IDs())
	if l.Total != len(ids)+1 || l.Stats.Relists == 0 {
		t.Fatalf("total %d, relists %d", l.Total, l.Stats.Relists)
	}
	// First listing: pages 1 and 2, then the total changes on page 3 (not
	// handed on); then each later listing whole (the second one is listed
	// again because of the recent insert, see Fetch).
	if want := 2 + l.Stats.Relists*len(l.Pages); len(seen) != want {
		t.Fatalf("OnPage saw %d pages, want %d", len(seen), want)
	}
	for _, p := range seen {
		if !strings.HasPrefix(p.Name, "page ") {
			t.Errorf("OnPage saw %q", p.Name)
		}
	}
	last := seen[len(seen)-len(l.Pages):]
	for i, p := range l.Pages {
		got := last[i]
		if got.Name != p.Name || !bytes.Equal(got.Body, p.Body) || len(got.IDs) != len(p.IDs) || len(got.Spans) != len(p.Spans) {
			t.Errorf("%s: OnPage saw %s (%d bytes, %d ids)", p.Name, got.Name, len(got.Body), len(got.IDs))
		}
	}
}
