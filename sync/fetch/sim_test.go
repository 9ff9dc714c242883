package fetch_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/tools/kalturasim"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
	"github.com/capturebox/capturebox/upload/kaltura"
)

const (
	pid      = kalturasim.DefaultPartnerID
	resource = 58
)

// t0 is the box's (trusted) time in the tests.
var t0 = time.Date(2025, 9, 1, 8, 0, 0, 0, time.UTC)

// simEnv is the Kaltura simulator behind a loopback HTTP server, with an
// app-token session as the box would hold it.
type simEnv struct {
	t      *testing.T
	sim    *kalturasim.Server
	store  *simsched.Store
	ts     *httptest.Server
	client *kaltura.Client
	sess   *kaltura.Session // the real app-token session
	ks     *simKS           // a KS source issuing simulator KS strings directly

	mu       sync.Mutex
	requests []url.Values                 // list calls, in order
	hook     func(n int, f url.Values)    // called before the n-th list call (1-based) is served
	gzipped  int                          // replies compressed by the middleware
	gzipOn   bool                         // compress replies when asked
	rewrite  func(n int, b []byte) []byte // alters the n-th list reply
}

// newSimEnv starts the simulator; events are created at t0 − 1 day (so
// they are not "recently updated"), then the clock is set to t0.
func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	e := &simEnv{t: t}
	sim, err := kalturasim.New(kalturasim.Options{Clock: func() time.Time { return t0 }, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	sim.AdvanceClock(-24 * time.Hour)
	e.sim = sim
	e.store = simsched.New(sim.Now)
	e.store.Register(sim.RegisterFunc())
	e.ts = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.ts.Close)
	tok, err := sim.AddAppToken(kalturasim.AppTokenSpec{
		HashType:          "SHA256",
		SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.client, err = kaltura.New(kaltura.Options{BaseURL: e.ts.URL, AllowInsecureHTTP: true, HTTPClient: e.ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	e.sess, err = kaltura.NewSession(e.client, kaltura.SessionConfig{
		PartnerID: pid, AppTokenID: tok.ID, AppToken: tok.Token, HashType: "SHA256",
		Clock: sim.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ks = &simKS{sim: sim}
	return e
}

// simKS is a KSSource that issues CAPTURE_DEVICE KS strings with the
// simulator's secret, renewing after Invalidate, like a Session does.
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

func (k *simKS) Logins() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.logins
}

// ready moves the simulator clock to t0 (after the events were created).
func (e *simEnv) ready() { e.sim.AdvanceClock(24 * time.Hour) }

// generate adds n one-hour-spaced record events on the resource from start.
func (e *simEnv) generate(n int, start time.Time, every time.Duration) []int64 {
	return e.store.GenerateEvents(pid, resource, n, start, simsched.GenerateOptions{Every: every})
}

func (e *simEnv) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(body))
	isList := bytes.Contains([]byte(r.URL.Path), []byte("schedule_scheduleevent/action/list"))
	n := 0
	var hook func(int, url.Values)
	var rewrite func(int, []byte) []byte
	e.mu.Lock()
	if isList {
		e.requests = append(e.requests, form)
		n = len(e.requests)
		hook, rewrite = e.hook, e.rewrite
	}
	gz := e.gzipOn && r.Header.Get("Accept-Encoding") == "gzip"
	e.mu.Unlock()
	if hook != nil {
		hook(n, form)
	}
	if !gz && rewrite == nil {
		e.sim.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	e.sim.ServeHTTP(rec, r)
	out := rec.Body.Bytes()
	if rewrite != nil {
		out = rewrite(n, out)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(out)
		_ = zw.Close()
		out = b.Bytes()
		w.Header().Set("Content-Encoding", "gzip")
		e.mu.Lock()
		e.gzipped++
		e.mu.Unlock()
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

func (e *simEnv) listRequests() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.requests...)
}

func (e *simEnv) https(t *testing.T, mod func(*fetch.HTTPSOptions)) *fetch.HTTPS {
	t.Helper()
	o := fetch.HTTPSOptions{Caller: e.client, Session: e.ks, Filter: fetch.Filter{ResourceID: resource}}
	if mod != nil {
		mod(&o)
	}
	h, err := fetch.NewHTTPS(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func idSet(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
