package syncer

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// parseCounter wraps the default parser and counts the pages it parses
// and the parses still running.
type parseCounter struct {
	mu     sync.Mutex
	pages  int
	active atomic.Int32
}

func (c *parseCounter) install(s *Syncer) {
	s.cfg.Parse = func(b []byte) (*icalparse.Calendar, error) {
		c.active.Add(1)
		defer c.active.Add(-1)
		c.mu.Lock()
		c.pages++
		c.mu.Unlock()
		return icalparse.ParseBytes(b, icalparse.Options{})
	}
}

func (c *parseCounter) take() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.pages
	c.pages = 0
	return n
}

// copyListing returns l with every page body copied: the same bytes in
// other memory.
func copyListing(l *fetch.Listing) *fetch.Listing {
	c := *l
	c.Pages = make([]fetch.Page, len(l.Pages))
	for i, p := range l.Pages {
		p.Body = bytes.Clone(p.Body)
		c.Pages[i] = p
	}
	return &c
}

// Pages handed to OnPage are parsed during the fetch and used for the
// listing's pages with the same bytes (not the same memory): each page is
// parsed once, and the result is that of a sync without head start.
func TestHeadStartPagesParsedOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.generate(1200, t0, 10*time.Minute)
	e.ready()
	real := e.s.cfg.Fetcher
	var handed atomic.Int32
	e.s.cfg.Fetcher = fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		on := req.OnPage
		if on == nil {
			t.Error("sync1 passes no OnPage")
		}
		req.OnPage = func(p fetch.Page) { handed.Add(1); on(p) }
		l, err := real.Fetch(ctx, req)
		if err != nil {
			return nil, err
		}
		return copyListing(l), nil
	})
	var c parseCounter
	c.install(e.s)
	s := e.mustSync()
	if n := c.take(); n != 3 || handed.Load() != 3 {
		t.Fatalf("3 pages: %d handed on, %d parsed", handed.Load(), n)
	}
	// Without head start (a fetcher that never calls OnPage).
	plain := e.newSyncer(fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		req.OnPage = nil
		return real.Fetch(ctx, req)
	}))
	c.install(plain)
	if err := plain.sync1(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := c.take(); n != 3 {
		t.Fatalf("without head start: %d pages parsed", n)
	}
	if !sameEvents(s.Events, plain.Current().Events) || len(s.Events) != 1200 {
		t.Fatal("the head start changes the result")
	}
}

// A page handed to OnPage whose bytes are not those of the listing's page
// (the data changed and the fetcher listed again) is not used: the
// listing's page is parsed, and only that one.
func TestHeadStartStalePagesNotUsed(t *testing.T) {
	e := newEnv(t, nil)
	ids := e.generate(1200, t0, 10*time.Minute)
	e.ready()
	real := e.s.cfg.Fetcher
	now := e.s.cfg.Clock()
	stale, err := real.Fetch(context.Background(), fetch.Request{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	e.sim.AdvanceClock(time.Minute)
	if _, err := e.store.UpdateEvent(pid, ids[700], func(ev *simsched.Event) { ev.Summary = "Moved to Hall C" }); err != nil {
		t.Fatal(err)
	}
	e.s.cfg.Fetcher = fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		for _, p := range stale.Pages { // the pages of an abandoned listing
			req.OnPage(p)
		}
		req.OnPage = nil
		return real.Fetch(ctx, req)
	})
	var c parseCounter
	c.install(e.s)
	s := e.mustSync()
	// 3 stale pages; page 2 changed and is parsed again.
	if n := c.take(); n != 4 {
		t.Fatalf("%d pages parsed, want 3 + 1", n)
	}
	if keys(s)[strconv.FormatInt(ids[700], 10)].Title != "Moved to Hall C" {
		t.Fatal("the stale page was used")
	}
	wantIDs(t, s, ids)
}

// A failed fetch fails the sync, and no head-start parse outlives it.
func TestHeadStartFetchFails(t *testing.T) {
	e := newEnv(t, nil)
	e.generate(1200, t0, 10*time.Minute)
	e.ready()
	e.mustSync()
	real := e.s.cfg.Fetcher
	now := e.s.cfg.Clock()
	l, err := real.Fetch(context.Background(), fetch.Request{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	outage := errors.New("outage on page 3")
	e.s.cfg.Fetcher = fetcherFunc(func(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
		req.OnPage(l.Pages[0])
		req.OnPage(l.Pages[1])
		return nil, outage
	})
	var c parseCounter
	c.install(e.s)
	if err := e.failSync(); !errors.Is(err, outage) {
		t.Fatalf("err %v", err)
	}
	if n := c.active.Load(); n != 0 {
		t.Fatalf("%d parses still running after sync1 returned", n)
	}
}
