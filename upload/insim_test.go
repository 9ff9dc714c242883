package upload_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// inproc is an http.RoundTripper that serves requests with the simulator
// in process (no socket), so that a test can run inside a synctest bubble:
// the simulator's handler, the box's client and every timer share the fake
// clock. A request whose context ends before the handler answers fails
// with the context's error, as over a real connection.
type inproc struct{ h http.Handler }

func (t inproc) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.RequestURI = req.URL.RequestURI()
	r.RemoteAddr = "127.0.0.1:1"
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.h.ServeHTTP(rec, r)
	}()
	select {
	case <-done:
		return rec.Result(), nil
	case <-req.Context().Done():
		return nil, context.Cause(req.Context())
	}
}

// bubbleSim is the simulator with a CAPTURE_DEVICE app token and a
// template, reached through inproc; create it inside a synctest bubble.
type bubbleSim struct {
	sim      *kalturasim.Server
	token    kalturasim.AppToken
	template string
	logs     *syncBuffer
	log      *slog.Logger
}

func newBubbleSim(t *testing.T) *bubbleSim {
	t.Helper()
	sim, err := kalturasim.New(kalturasim.Options{ProcessingDelay: time.Second, FinalChunkMaxAppendTime: time.Second,
		DataDir: t.TempDir(), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	tok, err := sim.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "Template", EntitledUsersEdit: "prof.jones", CategoriesIDs: "301"})
	if err != nil {
		t.Fatal(err)
	}
	b := &bubbleSim{sim: sim, token: tok, template: tmpl.ID, logs: &syncBuffer{}}
	b.log = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return b
}

func (b *bubbleSim) session(t *testing.T, requestTimeout time.Duration) *kaltura.Session {
	t.Helper()
	c, err := kaltura.New(kaltura.Options{BaseURL: "http://kaltura.test", AllowInsecureHTTP: true, Timeout: requestTimeout,
		HTTPClient: &http.Client{Transport: inproc{b.sim}}, Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: b.sim.PartnerID(), AppTokenID: b.token.ID, AppToken: b.token.Token,
		HashType: "SHA256", Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// events collects what the queue reports.
type events struct {
	mu      sync.Mutex
	faults  []upload.Fault
	ready   map[string]time.Time
	resumed int
	notify  chan struct{}
}

func newEvents() *events {
	return &events{ready: map[string]time.Time{}, notify: make(chan struct{}, 1)}
}

func (ev *events) poke() {
	select {
	case ev.notify <- struct{}{}:
	default:
	}
}

func (ev *events) wire(o *upload.QueueOptions) {
	o.OnFault = func(f upload.Fault) {
		ev.mu.Lock()
		ev.faults = append(ev.faults, f)
		ev.mu.Unlock()
		ev.poke()
	}
	o.OnReady = func(id, _ string) {
		ev.mu.Lock()
		ev.ready[id] = time.Now()
		ev.mu.Unlock()
		ev.poke()
	}
	o.OnResume = func() {
		ev.mu.Lock()
		ev.resumed++
		ev.mu.Unlock()
		ev.poke()
	}
}

func (ev *events) has(code string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, f := range ev.faults {
		if f.Code == code {
			return true
		}
	}
	return false
}

// runUntil works q inside the bubble until cond holds (fake time; fails
// after 30 fake days).
func runUntil(t *testing.T, q *upload.Queue, ev *events, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	limit := time.After(30 * 24 * time.Hour)
	for !cond() {
		select {
		case <-ev.notify:
		case err := <-done:
			cancel()
			t.Fatalf("queue stopped: %v", err)
		case <-limit:
			cancel()
			<-done
			t.Fatalf("condition not reached; items %+v, paused %+v", q.Items(), q.Paused())
		}
	}
	cancel()
	<-done
}

// TestStalledChunkResumes (issue 16): a chunk request the server holds
// open (the simulator's timeout fault) is abandoned after request_timeout
// without progress, logged, retried with backoff, and the recording
// reaches READY within request_timeout plus the backoff — not after a
// fixed 10-minute upload timeout.
func TestStalledChunkResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubbleSim(t)
		const requestTimeout = 30 * time.Second
		id := b.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultTimeout, Service: "uploadtoken", Action: "upload", Nth: 2})
		ev := newEvents()
		o := upload.QueueOptions{API: b.session(t, requestTimeout), Logger: b.log, ChunkSize: 64 << 10,
			DefaultTemplateEntryID: b.template, MinBackoff: 2 * time.Second, MaxBackoff: 10 * time.Second,
			PollInterval: time.Second, MaxPollInterval: 2 * time.Second}
		ev.wire(&o)
		q, err := upload.OpenQueue(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, "lecture.mp4", 4*65536+7)
		start := time.Now()
		if err := q.Enqueue(upload.Recording{ID: "r", Path: path, Title: "Lecture", EventID: 7340012}); err != nil {
			t.Fatal(err)
		}
		runUntil(t, q, ev, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); _, ok := ev.ready["r"]; return ok })
		if b.sim.Faults().Fired(id) != 1 {
			t.Fatal("the timeout fault did not fire")
		}
		// READY needs the stall (request_timeout), one backoff (≤ 2 s at
		// the first failure), the processing delay (1 s) and polls (≤ 2 s).
		if took := time.Since(start); took > requestTimeout+2*time.Second+3*time.Second+time.Second {
			t.Fatalf("READY after %s: more than request_timeout plus backoff", took)
		}
		logs := b.logs.String()
		if !strings.Contains(logs, "upload step failed; backing off") || !strings.Contains(logs, "upload stalled: no progress for 30s") {
			t.Fatalf("no log line for the stalled chunk:\n%s", logs)
		}
	})
}

// TestCredentialsFaultClearsByItself (issue 16): the app token is disabled
// (uploads stop with a configuration fault naming the setting), then
// enabled again on the server: the queue re-checks on its own schedule and
// the fault clears without any command.
func TestCredentialsFaultClearsByItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubbleSim(t)
		if err := b.sim.SetAppTokenStatus(b.token.ID, kalturasim.AppTokenDisabled); err != nil {
			t.Fatal(err)
		}
		ev := newEvents()
		o := upload.QueueOptions{API: b.session(t, 30*time.Second), Logger: b.log, ChunkSize: 64 << 10,
			DefaultTemplateEntryID: b.template, PollInterval: time.Second, MaxPollInterval: 2 * time.Second}
		ev.wire(&o)
		q, err := upload.OpenQueue(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(upload.Recording{ID: "r", Path: writeFile(t, "r.mp4", 3*65536), Title: "Lecture", EventID: 7}); err != nil {
			t.Fatal(err)
		}
		runUntil(t, q, ev, func() bool { return q.Paused() != nil })
		if f := q.Paused(); f.Setting != "kaltura.app_token_id" {
			t.Fatalf("fault %+v does not name the setting", f)
		}
		// Fixed on the server: no Retry, no restart.
		if err := b.sim.SetAppTokenStatus(b.token.ID, kalturasim.AppTokenActive); err != nil {
			t.Fatal(err)
		}
		fixed := time.Now()
		runUntil(t, q, ev, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); _, ok := ev.ready["r"]; return ok })
		if q.Paused() != nil {
			t.Fatal("fault still shown after the token works again")
		}
		ev.mu.Lock()
		resumed, readyAt := ev.resumed, ev.ready["r"]
		ev.mu.Unlock()
		if resumed != 1 {
			t.Fatalf("OnResume called %d times, want 1", resumed)
		}
		if readyAt.Sub(fixed) > 5*time.Minute+time.Minute {
			t.Fatalf("cleared %s after the fix: the re-check runs every 5 minutes", readyAt.Sub(fixed))
		}
	})
}

// TestRecheckNow: Recheck makes a paused queue try at once.
func TestRecheckNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubbleSim(t)
		b.sim.SetAppTokenStatus(b.token.ID, kalturasim.AppTokenDisabled)
		ev := newEvents()
		o := upload.QueueOptions{API: b.session(t, 30*time.Second), Logger: b.log, DefaultTemplateEntryID: b.template,
			ConfigRecheck: 24 * time.Hour, PollInterval: time.Second, MaxPollInterval: 2 * time.Second}
		ev.wire(&o)
		q, _ := upload.OpenQueue(t.TempDir(), o)
		q.Enqueue(upload.Recording{ID: "r", Path: writeFile(t, "r.mp4", 1000), Title: "L", EventID: 7})
		runUntil(t, q, ev, func() bool { return q.Paused() != nil })
		b.sim.SetAppTokenStatus(b.token.ID, kalturasim.AppTokenActive)
		start := time.Now()
		q.Recheck()
		runUntil(t, q, ev, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); _, ok := ev.ready["r"]; return ok })
		if took := time.Since(start); took > time.Minute {
			t.Fatalf("Recheck took %s (the schedule is 24 h)", took)
		}
	})
}

// TestBacklogStallIsAFault (issue 16): when nothing moves for BacklogStall
// (every call fails transiently) the queue raises UPLOAD_BACKLOG_STALLED
// (Stalled), and it clears by itself when uploads move again.
func TestBacklogStallIsAFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubbleSim(t)
		id := b.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Status: 503, Service: "uploadtoken", Action: "add", Always: true})
		ev := newEvents()
		o := upload.QueueOptions{API: b.session(t, 30*time.Second), Logger: b.log, DefaultTemplateEntryID: b.template,
			BacklogStall: 20 * time.Minute, PollInterval: time.Second, MaxPollInterval: 2 * time.Second}
		ev.wire(&o)
		q, _ := upload.OpenQueue(t.TempDir(), o)
		start := time.Now()
		q.Enqueue(upload.Recording{ID: "r", Path: writeFile(t, "r.mp4", 1000), Title: "L", EventID: 7})
		runUntil(t, q, ev, func() bool { return ev.has("UPLOAD_BACKLOG_STALLED") })
		if took := time.Since(start); took < 20*time.Minute || took > 30*time.Minute {
			t.Fatalf("stall raised after %s, want 20 min (plus one backoff)", took)
		}
		if f := q.Stalled(); f == nil || f.Severity != upload.SeverityWarning || !strings.Contains(f.Message, "503") {
			t.Fatalf("Stalled() = %+v", f)
		}
		b.sim.Faults().Remove(id)
		runUntil(t, q, ev, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); _, ok := ev.ready["r"]; return ok })
		if q.Stalled() != nil || ev.resumed != 1 {
			t.Fatalf("stall not cleared (resumed %d)", ev.resumed)
		}
	})
}

// writeFile writes size random bytes to a new file and returns its path.
func writeFile(t *testing.T, name string, size int) string {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadyAnnouncedOnce (issue 16): OnReady ("UPLOADED recording X") is
// called once per recording, not again on every start.
func TestReadyAnnouncedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubbleSim(t)
		dir := t.TempDir()
		calls := 0
		open := func() (*upload.Queue, *events) {
			ev := newEvents()
			o := upload.QueueOptions{API: b.session(t, 30*time.Second), Logger: b.log, DefaultTemplateEntryID: b.template,
				PollInterval: time.Second, MaxPollInterval: 2 * time.Second}
			ev.wire(&o)
			inner := o.OnReady
			o.OnReady = func(id, e string) { calls++; inner(id, e) }
			q, err := upload.OpenQueue(dir, o)
			if err != nil {
				t.Fatal(err)
			}
			return q, ev
		}
		q, ev := open()
		q.Enqueue(upload.Recording{ID: "r", Path: writeFile(t, "r.mp4", 1000), Title: "L", EventID: 7})
		runUntil(t, q, ev, func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); _, ok := ev.ready["r"]; return ok })
		for range 3 { // three restarts
			q, ev = open()
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			q.Run(ctx)
			cancel()
		}
		if calls != 1 {
			t.Fatalf("OnReady called %d times over 4 starts, want 1", calls)
		}
		if !q.Deletable("r") {
			t.Fatal("READY item not deletable after restarts")
		}
	})
}

// TestOldEntryIDUnknownBecomesUnverified: an item an older firmware
// stopped with ENTRY_ID_UNKNOWN (a fault no command cleared) is read as
// delivered, not verified.
func TestOldEntryIDUnknownBecomesUnverified(t *testing.T) {
	dir := t.TempDir()
	item := `{"v":1,"seq":1,"recording":{"ID":"old","Path":"/nonexistent.mp4","Title":"T","EventID":99},"state":"failed",
		"failed_in":"adding_entry","size":5,"file_name":"old.mp4","token_id":"0_t","offset":5,
		"fault":{"item_id":"old","severity":"error","code":"ENTRY_ID_UNKNOWN","message":"m","time":"2025-09-01T10:00:00Z"},
		"enqueued_at":"2025-09-01T09:00:00Z","updated_at":"2025-09-01T10:00:00Z","intent_at":"2025-09-01T10:00:00Z"}`
	if err := os.WriteFile(filepath.Join(dir, "item-0123456789abcdef01234567.json"), []byte(item), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := upload.OpenQueue(dir, upload.QueueOptions{API: nopAPI{}})
	if err != nil {
		t.Fatal(err)
	}
	un := q.Unverified()
	if len(un) != 1 || un[0].Fault != nil || un[0].Unverified.AdminTag != "capturebox-event-99" || un[0].Unverified.TokenID != "0_t" {
		t.Fatalf("unverified %+v", un)
	}
	// Reopened: the conversion was persisted.
	q, _ = upload.OpenQueue(dir, upload.QueueOptions{API: nopAPI{}})
	if it := q.Items()[0]; it.State != upload.StateUnverified {
		t.Fatalf("state %s after reopening", it.State)
	}
}

// nopAPI is an API for queues that make no call.
type nopAPI struct{ upload.API }
