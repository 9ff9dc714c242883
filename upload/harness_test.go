package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/simtest"
	"github.com/capturebox/capturebox/upload"
	"github.com/capturebox/capturebox/upload/kaltura"
)

const testPartner = 1234567

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	t        *testing.T
	fake     *simtest.Server
	tokenID  string
	token    string
	template string
	qdir     string
	fdir     string
	logs     *syncBuffer
	log      *slog.Logger

	mu     sync.Mutex
	faults []upload.Fault
	ready  map[string]string
	notify chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake, err := simtest.New(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	h := &harness{t: t, fake: fake, qdir: filepath.Join(t.TempDir(), "queue"), fdir: t.TempDir(),
		logs: &syncBuffer{}, ready: map[string]string{}, notify: make(chan struct{}, 1)}
	h.log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if h.tokenID, h.token, err = h.fake.AddAppToken("SHA256", 0); err != nil {
		t.Fatal(err)
	}
	if h.template, err = h.fake.AddTemplate(kaltura.MediaEntry{Name: "Template", Tags: "bio210,lecture", Description: "Course recording",
		EntitledUsersEdit: "prof.jones", CategoriesIDs: "301"}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) session() *kaltura.Session {
	h.t.Helper()
	c, err := kaltura.New(kaltura.Options{BaseURL: "https://kaltura.test", HTTPClient: &http.Client{Transport: h.fake.Transport()}, Logger: h.log})
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := kaltura.NewSession(c, kaltura.SessionConfig{PartnerID: h.fake.PartnerID(), AppTokenID: h.tokenID, AppToken: h.token, HashType: "SHA256", Logger: h.log})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) file(name string, size int) (string, []byte) {
	h.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(h.fdir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p, data
}

func (h *harness) opts(api upload.API) upload.QueueOptions {
	return upload.QueueOptions{
		API: api, Logger: h.log, ChunkSize: 64 << 10, Location: time.FixedZone("EDT", -4*3600),
		DefaultTemplateEntryID: h.template,
		OnFault: func(f upload.Fault) {
			h.mu.Lock()
			h.faults = append(h.faults, f)
			h.mu.Unlock()
			h.poke()
		},
		OnReady: func(id, entry string) {
			h.mu.Lock()
			h.ready[id] = entry
			h.mu.Unlock()
			h.poke()
		},
	}
}

func (h *harness) poke() {
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

func (h *harness) open(o upload.QueueOptions) *upload.Queue {
	h.t.Helper()
	q, err := upload.OpenQueue(h.qdir, o)
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

func (h *harness) faultList() []upload.Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]upload.Fault(nil), h.faults...)
}

// run works q until cond holds (checked whenever the queue reports a fault
// or a ready entry) and returns Run's error. It must be called inside a
// synctest bubble: the 30-day limit is fake time and is reached only if the
// queue can make no more progress.
func (h *harness) run(q *upload.Queue, cond func() bool) error {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	limit := time.After(30 * 24 * time.Hour)
	for {
		if cond() {
			cancel()
			<-done
			return nil
		}
		select {
		case <-h.notify:
		case err := <-done:
			cancel()
			return err
		case <-limit:
			cancel()
			<-done
			h.t.Fatalf("condition not reached; items: %+v; faults: %+v", q.Items(), h.faultList())
			return nil
		}
	}
}

func (h *harness) isReady(id string) func() bool {
	return func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, ok := h.ready[id]
		return ok
	}
}

func (h *harness) hasFault(code string) func() bool {
	return func() bool {
		for _, f := range h.faultList() {
			if f.Code == code {
				return true
			}
		}
		return false
	}
}

func scheduled(id, path string, templ string) upload.Recording {
	return upload.Recording{ID: id, Path: path, Title: "BIO 210 - Guest lecture", Description: "Week 3", Tags: "bio",
		CategoryIDs: []int64{301, 305}, TemplateEntryID: templ, EventID: 7340012,
		Start: time.Date(2025, 9, 15, 3, 0, 0, 0, time.UTC), Duration: time.Hour}
}

// checkOneEntry asserts that exactly one entry exists and holds data.
func (h *harness) checkOneEntry(data []byte) simtest.Entry {
	h.t.Helper()
	ents := h.fake.Entries()
	if len(ents) != 1 {
		var desc []string
		for _, e := range ents {
			desc = append(desc, fmt.Sprintf("%s(status %d, %d bytes, token %q)", e.ID, e.Status, len(e.Content), e.TokenID))
		}
		h.t.Fatalf("%d entries, want exactly 1: %v", len(ents), desc)
	}
	if !bytes.Equal(ents[0].Content, data) {
		h.t.Fatalf("entry content %d bytes (sha %s), want %d bytes (sha %s)", len(ents[0].Content), simtest.Sum(ents[0].Content), len(data), simtest.Sum(data))
	}
	return ents[0]
}
