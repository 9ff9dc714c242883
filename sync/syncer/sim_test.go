package syncer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
	"github.com/capturebox/capturebox/upload/kaltura"
)

const (
	pid      = kalturasim.DefaultPartnerID
	resource = 58
)

var t0 = time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)

// env is the simulator on loopback HTTP, a fetcher, a cache directory and
// a Syncer wired as the firmware wires them.
type env struct {
	t     testing.TB
	sim   *kalturasim.Server
	store *simsched.Store
	ts    *httptest.Server
	ks    *simKS
	cache *cache.Store
	logs  *logBuffer
	s     *Syncer

	mu      sync.Mutex
	rewrite func(body []byte) []byte // alters list replies
	gzipOn  bool
	gzipped int
}

func newEnv(t testing.TB, mod func(*fetch.HTTPSOptions)) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}}
	sim, err := kalturasim.New(kalturasim.Options{Clock: func() time.Time { return t0 }, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	sim.AdvanceClock(-24 * time.Hour) // events are made a day before the tests run
	e.sim = sim
	e.store = simsched.New(sim.Now)
	e.store.Register(sim.RegisterFunc())
	e.ts = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.ts.Close)
	client, err := kaltura.New(kaltura.Options{BaseURL: e.ts.URL, AllowInsecureHTTP: true, HTTPClient: e.ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	e.ks = &simKS{sim: sim}
	o := fetch.HTTPSOptions{Caller: client, Session: e.ks, Filter: fetch.Filter{ResourceID: resource}}
	if mod != nil {
		mod(&o)
	}
	f, err := fetch.NewHTTPS(o)
	if err != nil {
		t.Fatal(err)
	}
	e.cache = cache.New(t.TempDir())
	e.s = e.newSyncer(f)
	return e
}

func (e *env) newSyncer(f Fetcher) *Syncer {
	s, err := New(Config{
		Fetcher: f, Store: e.cache,
		Clock:      e.sim.Now,
		ResourceID: resource,
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// ready moves the simulator (and the box) clock to t0.
func (e *env) ready() { e.sim.AdvanceClock(24 * time.Hour) }

func (e *env) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	rw, gz := e.rewrite, e.gzipOn && r.Header.Get("Accept-Encoding") == "gzip"
	e.mu.Unlock()
	if (rw == nil && !gz) || !strings.Contains(r.URL.Path, "schedule_scheduleevent/action/list") {
		e.sim.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.sim.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if rw != nil {
		out = rw(out)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	if gz {
		out = gzipBytes(out)
		w.Header().Set("Content-Encoding", "gzip")
		e.mu.Lock()
		e.gzipped++
		e.mu.Unlock()
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

func (e *env) setRewrite(f func([]byte) []byte) {
	e.mu.Lock()
	e.rewrite = f
	e.mu.Unlock()
}

// simKS issues CAPTURE_DEVICE KS strings with the simulator's secret and
// renews after Invalidate, as the app-token session does.
type simKS struct {
	sim    *kalturasim.Server
	mu     sync.Mutex
	ks     string
	logins int
}

func (k *simKS) KS(ctx context.Context) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ks == "" {
		k.ks = k.sim.IssueKS("capture-box", 0, 24*time.Hour, "setrole:CAPTURE_DEVICE_ROLE", "disableentitlement")
		k.logins++
	}
	return k.ks, nil
}

func (k *simKS) Invalidate(ks string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ks == ks {
		k.ks = ""
	}
}

// logBuffer collects log output safely.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

var _ io.Writer = (*logBuffer)(nil)
