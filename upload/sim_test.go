package upload_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"context"

	"github.com/capturebox/capturebox/tools/kalturasim"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// simEnv is the Kaltura simulator (tools/kalturasim) on 127.0.0.1 with a
// CAPTURE_DEVICE app token and a template entry.
type simEnv struct {
	sim      *kalturasim.Server
	url      string
	token    kalturasim.AppToken
	template string
	logs     *syncBuffer
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	sim, err := kalturasim.New(kalturasim.Options{ProcessingDelay: time.Millisecond, FinalChunkMaxAppendTime: 100 * time.Millisecond,
		DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sim)
	t.Cleanup(func() { sim.Close(); hs.Close() })
	tok, err := sim.AddAppToken(kalturasim.AppTokenSpec{HashType: "SHA256", SessionPrivileges: "disableentitlement,setrole:CAPTURE_DEVICE_ROLE"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := sim.AddTemplateEntry(kalturasim.EntrySpec{Name: "Template", EntitledUsersEdit: "prof.jones", Tags: "bio210", CategoriesIDs: "301"})
	if err != nil {
		t.Fatal(err)
	}
	return &simEnv{sim: sim, url: hs.URL, token: tok, template: tmpl.ID, logs: &syncBuffer{}}
}

func (e *simEnv) session(t *testing.T, timeout time.Duration) *kaltura.Session {
	t.Helper()
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := kaltura.New(kaltura.Options{BaseURL: e.url, AllowInsecureHTTP: true, Timeout: timeout, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s, err := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: e.sim.PartnerID(), AppTokenID: e.token.ID, AppToken: e.token.Token, HashType: "SHA256", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upload runs one recording through a queue against the simulator until it
// is READY or a fault with code stopCode is raised.
func (e *simEnv) upload(t *testing.T, size int, timeout time.Duration, stopCode string) ([]byte, []upload.Fault, *upload.Queue) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "lecture.mp4")
	os.WriteFile(path, data, 0o644)
	var mu sync.Mutex
	var faults []upload.Fault
	done := make(chan struct{})
	var once sync.Once
	o := upload.QueueOptions{API: e.session(t, timeout), ChunkSize: 64 << 10, Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, PollInterval: 5 * time.Millisecond, MaxPollInterval: 20 * time.Millisecond,
		AddSettle: 50 * time.Millisecond,
		OnReady:   func(string, string) { once.Do(func() { close(done) }) },
		OnFault: func(f upload.Fault) {
			mu.Lock()
			faults = append(faults, f)
			mu.Unlock()
			if stopCode != "" && f.Code == stopCode {
				once.Do(func() { close(done) })
			}
		},
	}
	q, err := upload.OpenQueue(filepath.Join(t.TempDir(), "q"), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(scheduled("rec", path, e.template)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { q.Run(ctx); close(ran) }()
	select {
	case <-done:
	case <-time.After(time.Minute): // deadlock guard only
		logs := e.logs.String()
		t.Errorf("no progress: items %+v\nlog tail:\n%s", q.Items(), logs[max(0, len(logs)-4000):])
	}
	cancel()
	<-ran
	mu.Lock()
	defer mu.Unlock()
	return data, append([]upload.Fault(nil), faults...), q
}

func (e *simEnv) checkOneEntry(t *testing.T, data []byte) kalturasim.EntryInfo {
	t.Helper()
	var got []kalturasim.EntryInfo
	for _, en := range e.sim.Entries() {
		if !en.Template {
			got = append(got, en)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1: %+v", len(got), got)
	}
	sum := sha256.Sum256(data)
	if got[0].ContentSHA256 != hex.EncodeToString(sum[:]) || got[0].ContentSize != int64(len(data)) {
		t.Fatalf("entry content %d bytes sha %s, want %d bytes", got[0].ContentSize, got[0].ContentSHA256, len(data))
	}
	return got[0]
}

func TestSimHappyPath(t *testing.T) {
	e := newSimEnv(t)
	data, faults, q := e.upload(t, 5*65536+123, 10*time.Second, "")
	ent := e.checkOneEntry(t, data)
	if ent.Status != kalturasim.EntryReady || !q.Deletable("rec") {
		t.Errorf("entry status %d, deletable %v", ent.Status, q.Deletable("rec"))
	}
	for k, want := range map[string]string{"name": "BIO 210 - Guest lecture 2025-09-15", "adminTags": "capturebox-event-7340012", "referenceId": "", "entitledUsersEdit": "prof.jones"} {
		if got := ent.Fields[k]; got != want {
			t.Errorf("field %s = %q, want %q", k, got, want)
		}
	}
	if len(faults) != 0 {
		t.Errorf("faults %+v", faults)
	}
	logs := e.logs.String()
	if strings.Contains(logs, e.token.Token) || strings.Contains(logs, "djJ8") {
		t.Error("secret in logs")
	}
}

func TestSimFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault kalturasim.Fault
	}{
		{"reset mid chunk", kalturasim.Fault{Kind: kalturasim.FaultReset, Service: "uploadtoken", Action: "upload", Nth: 2}},
		{"503 on chunk", kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Status: 503, Service: "uploadtoken", Action: "upload", Nth: 3}},
		{"size mismatch", kalturasim.Fault{Kind: kalturasim.FaultSizeMismatch, Service: "uploadtoken", Action: "upload"}},
		{"ks expires mid upload", kalturasim.Fault{Kind: kalturasim.FaultKSExpire, Service: "uploadtoken", Action: "upload", Nth: 2}},
		{"action blocked", kalturasim.Fault{Kind: kalturasim.FaultActionBlocked, Service: "uploadtoken", Action: "add", Always: true, Nth: 1, Probability: 0}},
		{"lock timed out on add", kalturasim.Fault{Kind: kalturasim.FaultLockTimedOut, Service: "media", Action: "add"}},
		{"internal error", kalturasim.Fault{Kind: kalturasim.FaultAPIError, Code: "INTERNAL_SERVERL_ERROR", Service: "uploadtoken", Action: "add"}},
		{"timeout", kalturasim.Fault{Kind: kalturasim.FaultTimeout, Service: "uploadtoken", Action: "upload", Nth: 2}},
		{"reset multirequest", kalturasim.Fault{Kind: kalturasim.FaultReset, Service: "multirequest"}},
		{"503 multirequest", kalturasim.Fault{Kind: kalturasim.FaultHTTPStatus, Status: 503, Service: "multirequest"}},
		{"slow", kalturasim.Fault{Kind: kalturasim.FaultDelay, Delay: 50 * time.Millisecond, Service: "baseentry", Action: "get"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newSimEnv(t)
			f := tc.fault
			if f.Always {
				f.Always = false // once is enough here; "always" would block forever
			}
			id := e.sim.Faults().Add(f)
			data, faults, _ := e.upload(t, 3*65536+5, 500*time.Millisecond, "")
			e.checkOneEntry(t, data)
			if e.sim.Faults().Fired(id) == 0 {
				t.Errorf("fault never fired")
			}
			for _, x := range faults {
				if x.Severity == upload.SeverityError {
					t.Errorf("fault %+v", x)
				}
			}
		})
	}
}

func TestSimConversionError(t *testing.T) {
	e := newSimEnv(t)
	e.sim.Faults().Add(kalturasim.Fault{Kind: kalturasim.FaultConversionError})
	_, faults, q := e.upload(t, 1000, 10*time.Second, "ENTRY_CONVERSION_FAILED")
	if len(faults) == 0 || faults[len(faults)-1].EntryID == "" || q.Deletable("rec") {
		t.Errorf("faults %+v", faults)
	}
}

func TestSimRevokedToken(t *testing.T) {
	e := newSimEnv(t)
	e.sim.DeleteAppToken(e.token.ID)
	_, faults, q := e.upload(t, 1000, 10*time.Second, kaltura.CodeAppTokenIDNotFound)
	if len(faults) == 0 || faults[0].Setting != "kaltura.app_token_id" || q.Paused() == nil {
		t.Errorf("faults %+v", faults)
	}
}

func TestSimMissingTemplate(t *testing.T) {
	e := newSimEnv(t)
	e.template = "0_zzzzzzzz"
	_, faults, _ := e.upload(t, 1000, 10*time.Second, kaltura.CodeEntryIDNotFound)
	if len(faults) == 0 || !strings.Contains(faults[0].Setting, "0_zzzzzzzz") {
		t.Errorf("faults %+v", faults)
	}
	for _, en := range e.sim.Entries() {
		if !en.Template {
			t.Errorf("entry created without template: %+v", en)
		}
	}
}
