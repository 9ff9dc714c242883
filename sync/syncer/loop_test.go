package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// calBody writes a Kaltura iCal page holding one-hour record events with
// these ids, the first starting at start, one a day.
func calBody(start time.Time, ids ...int64) []byte {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\n")
	for i, id := range ids {
		st := start.Add(time.Duration(i) * 24 * time.Hour).UTC()
		fmt.Fprintf(&b, "BEGIN:VEVENT\r\nSUMMARY:Lecture %d\r\nSTATUS:CONFIRMED\r\nSEQUENCE:12\r\n"+
			"DTSTART:%s\r\nDTEND:%s\r\nCLASS:PUBLIC\r\nDTSTAMP:20250820T151003Z\r\nX-KALTURA-ID:%d\r\n"+
			"X-KALTURA-TYPE:1\r\nX-KALTURA-PARTNER-ID:1234567\r\nX-KALTURA-STATUS:2\r\nX-KALTURA-OWNER-ID:\r\n"+
			"X-KALTURA-RESOURCE-IDS:58\r\nEND:VEVENT\r\n",
			id, st.Format("20060102T150405Z"), st.Add(time.Hour).Format("20060102T150405Z"), id)
	}
	fmt.Fprintf(&b, "X-KALTURA-TOTAL-COUNT:%d\r\nEND:VCALENDAR\r\n", len(ids))
	return []byte(b.String())
}

// fakeFetcher answers from a script: err[i] for the i-th call (nil: a
// listing of ids). It records the (fake) time of each call.
type fakeFetcher struct {
	mu    sync.Mutex
	calls []time.Time
	fail  func(n int) error
	ids   []int64
	start time.Time // of the first event: an hour after the first call
}

func (f *fakeFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	if f.start.IsZero() {
		f.start = time.Now().Add(time.Hour)
	}
	start := f.start
	n := len(f.calls)
	ids := append([]int64(nil), f.ids...)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return nil, err
		}
	}
	return &fetch.Listing{
		Transport: "https", Source: "fake", From: req.Now, To: req.Now.Add(14 * 24 * time.Hour), Total: len(ids),
		Pages: []fetch.Page{{Name: "page 1", Body: calBody(start, ids...), IDs: ids}},
	}, nil
}

func (f *fakeFetcher) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

// memStore is an in-memory Store.
type memStore struct {
	mu    sync.Mutex
	e     *cache.Entry
	saves int
}

func (m *memStore) Load() (*cache.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.e, nil
}

func (m *memStore) Save(e *cache.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.e = e
	m.saves++
	return nil
}

func loopSyncer(t *testing.T, f Fetcher, st Store, trusted func() bool, logs *logBuffer) *Syncer {
	t.Helper()
	if logs == nil {
		logs = &logBuffer{}
	}
	s, err := New(Config{
		Fetcher: f, Store: st, Clock: time.Now, Trusted: trusted,
		Rand:   rand.New(rand.NewPCG(1, 2)),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expectedDelays replays the jitter source: the delays after a sequence of
// outcomes (true = success).
func expectedDelays(cfg Config, outcomes []bool) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	var out []time.Duration
	fails := 0
	for _, ok := range outcomes {
		if ok {
			fails = 0
		} else {
			fails++
		}
		out = append(out, NextDelay(cfg, fails, false, r.Float64()))
	}
	return out
}

func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

func TestLoopIntervalJitterAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{ids: []int64{1, 2, 3}}
		// Calls 2–5 fail (transient), then all succeed.
		f.fail = func(n int) error {
			if n >= 2 && n <= 5 {
				return &kaltura.HTTPError{Service: "schedule_scheduleevent", Action: "list", StatusCode: 503}
			}
			return nil
		}
		s := loopSyncer(t, f, &memStore{}, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- s.Run(ctx) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
		ts := f.times()
		if !ts[0].Equal(start) {
			t.Fatalf("first sync at +%v, want at once", ts[0].Sub(start))
		}
		outcomes := make([]bool, len(ts)-1)
		for i := range outcomes {
			outcomes[i] = i+1 < 2 || i+1 > 5
		}
		want := expectedDelays(s.cfg, outcomes)
		got := gaps(ts)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("delay %d: %v, want %v (all: %v)", i+1, got[i], want[i], got)
			}
		}
		// Sanity of the schedule: ~2 min, then 15 s, 30 s, 60 s, 120 s (±10 %), then ~2 min.
		for i, base := range []time.Duration{2 * time.Minute, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 2 * time.Minute} {
			if got[i] < base*9/10 || got[i] > base*11/10 {
				t.Fatalf("delay %d = %v, want about %v", i+1, got[i], base)
			}
		}
		st := s.Status()
		if st.LastError != "" || st.ConsecutiveFailures != 0 || st.Events != 3 || !st.HaveSchedule || st.Source != "fake" {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestLoopConfigFaultBacksOffToMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{fail: func(int) error {
			return &kaltura.APIError{Code: "SERVICE_FORBIDDEN", Service: "schedule_scheduleevent", Action: "list"}
		}}
		s := loopSyncer(t, f, &memStore{}, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go s.Run(ctx)
		time.Sleep(31 * time.Minute)
		synctest.Wait()
		cancel()
		for i, g := range gaps(f.times()) {
			if g < DefaultMaxBackoff*9/10 {
				t.Fatalf("retry %d after %v; a configuration fault waits about %v", i+1, g, DefaultMaxBackoff)
			}
		}
		if n := len(f.times()); n < 3 || n > 5 {
			t.Fatalf("%d attempts in 31 min", n)
		}
	})
}

func TestLoopSyncNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{ids: []int64{1}}
		gate := make(chan struct{})
		var gated bool
		var mu sync.Mutex
		blocking := fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
			mu.Lock()
			g := gated
			mu.Unlock()
			if g {
				<-gate
			}
			return f.Fetch(ctx, req)
		})
		s := loopSyncer(t, blocking, &memStore{}, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		synctest.Wait()
		<-s.Updates()
		time.Sleep(10 * time.Second)
		at := time.Now()
		s.SyncNow()
		synctest.Wait()
		ts := f.times()
		if len(ts) != 2 || !ts[1].Equal(at) {
			t.Fatalf("calls %v; want a second one at once", ts)
		}
		select {
		case <-s.Updates():
		default:
			t.Fatal("no update after SyncNow")
		}
		// The interval restarts from the on-demand sync.
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(f.times()) != 2 {
			t.Fatal("an extra sync ran")
		}
		// Requests during a sync make one more sync after it, not three.
		mu.Lock()
		gated = true
		mu.Unlock()
		s.SyncNow()
		synctest.Wait() // the sync is blocked in the fetch
		s.SyncNow()
		s.SyncNow()
		s.SyncNow()
		mu.Lock()
		gated = false
		mu.Unlock()
		close(gate)
		synctest.Wait()
		if n := len(f.times()); n != 4 {
			t.Fatalf("%d syncs, want 4", n)
		}
	})
}

func TestLoopWaitsForTrustedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		trusted := false
		clock := func() bool {
			mu.Lock()
			defer mu.Unlock()
			return trusted
		}
		f := &fakeFetcher{ids: []int64{1}}
		logs := &logBuffer{}
		s := loopSyncer(t, f, &memStore{}, clock, logs)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if len(f.times()) != 0 {
			t.Fatal("fetched on an untrusted clock")
		}
		st := s.Status()
		if !strings.Contains(st.LastError, "clock not trusted") || st.ConsecutiveFailures != 0 {
			t.Fatalf("status %+v", st)
		}
		if strings.Contains(logs.String(), "level=WARN") {
			t.Fatal("waiting for the clock logged as a failure")
		}
		mu.Lock()
		trusted = true
		mu.Unlock()
		time.Sleep(DefaultMinBackoff * 2)
		synctest.Wait()
		if len(f.times()) != 1 || s.Current() == nil {
			t.Fatal("no sync once the clock was trusted")
		}
	})
}

func TestLoopRateLimitsFailureLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{fail: func(int) error { return errors.New("dial tcp: connection refused") }}
		logs := &logBuffer{}
		s := loopSyncer(t, f, &memStore{}, nil, logs)
		ctx, cancel := context.WithCancel(t.Context())
		go s.Run(ctx)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		attempts := len(f.times())
		f.mu.Lock()
		f.fail = nil
		f.ids = []int64{1}
		f.mu.Unlock()
		s.SyncNow()
		synctest.Wait()
		cancel()
		out := logs.String()
		warns := strings.Count(out, "level=WARN")
		// First failure at once, then at most one per LogEvery.
		if attempts < 12 || warns < 2 || warns > 1+int(2*time.Hour/DefaultLogEvery) || warns >= attempts {
			t.Fatalf("%d attempts, %d warnings:\n%s", attempts, warns, out)
		}
		if !strings.Contains(out, "suppressed=") || !strings.Contains(out, "schedule sync recovered") {
			t.Fatalf("log:\n%s", out)
		}
		if st := s.Status(); st.ConsecutiveFailures != 0 || st.LastError != "" {
			t.Fatalf("status after recovery %+v", st)
		}
	})
}

func TestLoopLoadsCacheBeforeNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		ms := &memStore{e: &cache.Entry{FetchedAt: now.Add(-time.Hour), Transport: "https", Source: "cached",
			From: now.Add(-time.Hour), To: now.Add(14 * 24 * time.Hour), Total: 0}}
		release := make(chan struct{})
		var seen *Snapshot
		f := fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
			<-release
			return (&fakeFetcher{ids: []int64{9}}).Fetch(ctx, req)
		})
		s := loopSyncer(t, f, ms, nil, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go s.Run(ctx)
		synctest.Wait() // Run is blocked in the fetch
		seen = s.Current()
		if seen == nil || !seen.FromCache || seen.Source != "cached" {
			t.Fatalf("before the first fetch: %+v", seen)
		}
		close(release)
		synctest.Wait()
		if c := s.Current(); c == nil || c.FromCache || len(c.Events) != 1 || ms.saves != 1 {
			t.Fatalf("after the fetch: %+v", c)
		}
	})
}

func TestNextDelay(t *testing.T) {
	cfg := Config{Interval: 2 * time.Minute, MinBackoff: 15 * time.Second, MaxBackoff: 10 * time.Minute, Jitter: 0.1}
	for _, tc := range []struct {
		failures int
		config   bool
		r        float64
		want     time.Duration
	}{
		{0, false, 0.5, 2 * time.Minute},
		{0, false, 0, 108 * time.Second},
		{0, false, 1, 132 * time.Second},
		{1, false, 0.5, 15 * time.Second},
		{2, false, 0.5, 30 * time.Second},
		{3, false, 0.5, 60 * time.Second},
		{6, false, 0.5, 480 * time.Second},
		{7, false, 0.5, 10 * time.Minute},
		{50, false, 1, 10 * time.Minute}, // jitter never exceeds the cap
		{50, false, 0, 9 * time.Minute},
		{1, true, 0.5, 10 * time.Minute},
	} {
		if got := NextDelay(cfg, tc.failures, tc.config, tc.r); got != tc.want {
			t.Errorf("NextDelay(%d, %v, %v) = %v, want %v", tc.failures, tc.config, tc.r, got, tc.want)
		}
	}
}

// The cache is rewritten when the schedule changes, and hourly otherwise,
// not at every sync (SD card wear).
func TestCacheWrittenOnChangeOrHourly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeFetcher{ids: []int64{1, 2}}
		ms := &memStore{}
		s := loopSyncer(t, f, ms, nil, nil)
		ctx := t.Context()
		sync := func() {
			t.Helper()
			if err := s.sync1(ctx); err != nil {
				t.Fatal(err)
			}
		}
		sync()
		time.Sleep(2 * time.Minute)
		sync()
		if ms.saves != 1 {
			t.Fatalf("%d saves of an unchanged schedule", ms.saves)
		}
		f.mu.Lock()
		f.ids = []int64{1, 2, 3}
		f.mu.Unlock()
		sync()
		if ms.saves != 2 || len(ms.e.Events) != 3 {
			t.Fatalf("%d saves after a change", ms.saves)
		}
		time.Sleep(time.Hour)
		sync()
		if ms.saves != 3 {
			t.Fatalf("%d saves; want the hourly refresh", ms.saves)
		}
	})
}
