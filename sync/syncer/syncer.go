// Package syncer keeps the box's schedule current: it fetches the complete
// listing (sync/fetch), parses every page (sync/icalparse), builds the plan
// of the window (sync/plan: occurrences on this resource, what to record,
// blackouts, conflicts), logs what changed, saves the result as the last good schedule
// (sync/cache) and swaps it in atomically for the controller.
//
// Pages are parsed as they arrive, while the next ones download
// (fetch.Request.OnPage); BenchmarkSync10k measures a 10,000-event sync.
//
// One attempt is sync1: it either replaces the schedule with a new complete
// one or leaves the last good one in place; readers of Current get one or
// the other, never a mix. The loop (Run) owns the interval (default 2 min)
// with jitter from an injected random source, exponential backoff after a
// failure, on-demand syncs (SyncNow) and rate-limited logging of repeated
// failures. Decisions depend only on the state and the injected clock; the
// loop waits with the time package's timers, so tests drive it inside a
// testing/synctest bubble.
//
// Removals: an event missing from a complete listing has been deleted in
// Kaltura (series edits delete and recreate occurrences with new ids), so
// it leaves the schedule; the diff logged with each sync says so.
package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/recur"
	"github.com/capturebox/capturebox/sync/schedule"
)

// Defaults of Config.
const (
	DefaultInterval   = 2 * time.Minute
	DefaultJitter     = 0.1 // ±10 % of each delay
	DefaultMinBackoff = 15 * time.Second
	DefaultMaxBackoff = 10 * time.Minute
	DefaultLogEvery   = 10 * time.Minute
)

// Fetcher lists the schedule completely or fails; *fetch.HTTPS and
// *fetch.FTP satisfy it.
type Fetcher interface {
	Fetch(ctx context.Context, req fetch.Request) (*fetch.Listing, error)
}

// Store keeps the last good schedule; *cache.Store satisfies it.
type Store interface {
	Load() (*cache.Entry, error)
	Save(*cache.Entry) error
}

// ParseFunc parses one raw page (an API page or an FTP file). It is called
// for several pages at once, so it must be safe for concurrent use.
type ParseFunc func(page []byte) (*icalparse.Calendar, error)

// Planner builds the plan of [from, to) from the events of a complete
// listing (sync/plan). It must not keep or modify events.
type Planner func(events []schedule.Event, from, to time.Time) plan.Plan

// Config configures a Syncer. Fetcher, Store and Clock are required.
type Config struct {
	Fetcher Fetcher
	Store   Store
	// Clock is the current time: the box's one clock shape, func() time.Time
	// (as controller.Loop.Now and the Kaltura client's Clock).
	Clock func() time.Time
	// Trusted reports whether the clock is trustworthy (NTP synchronised,
	// or confirmed later than the build time); nil means always. No sync
	// runs on an untrusted clock: the window would be wrong.
	Trusted func() bool
	// Rand drives the jitter; nil seeds one from the clock's first reading
	// (tests inject a seeded one).
	Rand *rand.Rand
	// Parse defaults to icalparse.ParseBytes with its default limits.
	Parse ParseFunc
	// ResourceID is this box's resource: the plan keeps only events booked
	// on it (checked on the box as well as by the server's filter, since a
	// CAPTURE_DEVICE session sees the whole partner; kaltura.md §8). 0
	// keeps every event (for tools).
	ResourceID int64
	// RoomID is the LOCATION resource the camera stands in (0: none):
	// events booked on the room are the box's too (plan.BoxResources).
	RoomID int64
	// ExpandSeries lets the plan expand a series that arrives without its
	// occurrences. Leave it off with the default query
	// (recurrenceTypeIn=0,2), which returns concrete events only, so that
	// a series whose occurrences were all deleted is never resurrected.
	ExpandSeries bool
	// Plan overrides the planner; default plan.BuildWith with ResourceID
	// and ExpandSeries.
	Plan Planner
	// Interval between syncs; Jitter the ± fraction applied to every
	// delay; MinBackoff/MaxBackoff bound the delay after failures
	// (doubling from MinBackoff); LogEvery rate-limits the warning for a
	// failure that repeats.
	Interval, MinBackoff, MaxBackoff, LogEvery time.Duration
	Jitter                                     float64
	// CacheRefresh: an unchanged schedule is written to the cache again
	// when the last write is older than this (default 1 h), so that the
	// cached window and time stay recent.
	CacheRefresh time.Duration
	Logger       *slog.Logger
}

// Snapshot is one complete schedule. It is immutable: never modify it.
type Snapshot struct {
	// Events is the complete event list of the listing, sorted by start
	// then id.
	Events []schedule.Event
	// Plan is what the box does over [From, To): the occurrences on this
	// resource with the decision to record each (cancelled ones, other
	// types and those under a blackout are shown, not recorded), the
	// conflicts and the problems.
	// What to record now and next is the plan's answer (Active, Next,
	// Primary): nothing else decides it.
	Plan     plan.Plan
	From, To time.Time
	// FetchedAt is when the listing was completed (trusted clock).
	FetchedAt time.Time
	Transport string
	Source    string
	// Total is the server's count; Rejected the events the parser refused
	// (a refused event the last good schedule had is kept in its last good
	// form; see sync1).
	Total, Rejected int
	// FromCache is true for the schedule loaded from disk at boot.
	FromCache bool
}

// Status is what the console shows about syncing.
type Status struct {
	LastAttempt, LastSuccess time.Time
	// LastError is the error of the last attempt ("" when it succeeded);
	// it never holds a secret.
	LastError           string
	ConsecutiveFailures int
	// NextAttempt is when the loop plans the next sync.
	NextAttempt time.Time
	// Of the current schedule:
	Events, Entries, Recordings, Conflicts, Problems, Rejected int
	Transport, Source                                          string
	FetchedAt                                                  time.Time
	From, To                                                   time.Time
	FromCache                                                  bool
	HaveSchedule                                               bool
	// CacheError is the last failure to load or save the cache ("" when
	// fine).
	CacheError string
}

// Errors of sync1.
var (
	// ErrClockUntrusted: the clock is not trustworthy yet; nothing fetched.
	ErrClockUntrusted = errors.New("clock not trusted yet: sync postponed")
	// ErrInconsistent: the parser and the fetcher's scan disagree on the
	// events of a page.
	ErrInconsistent = errors.New("parsed events do not match the listing")
)

// Syncer runs the schedule sync. Create it with New.
type Syncer struct {
	cfg Config
	log *slog.Logger

	cur     atomic.Pointer[Snapshot]
	updates chan struct{}
	now     chan struct{}

	syncMu  gosync.Mutex // one sync1 at a time; guards files, ftpSvc, savedAt
	files   []fetch.File
	ftpSvc  string
	savedAt time.Time        // last successful cache write (zero: none this run)
	hashes  map[uint64]int64 // VEVENT bytes hash → id, of the current snapshot's parse
	seed    maphash.Seed

	mu     gosync.Mutex // guards st, loaded, rng, lastLog*
	st     Status
	loaded bool
	rng    *rand.Rand

	lastLogAt  time.Time
	lastLogMsg string
	suppressed int
}

// New returns a Syncer; it does no I/O (see LoadCache and Run).
func New(cfg Config) (*Syncer, error) {
	if cfg.Fetcher == nil || cfg.Store == nil || cfg.Clock == nil {
		return nil, errors.New("syncer: Fetcher, Store and Clock are required")
	}
	if cfg.Trusted == nil {
		cfg.Trusted = func() bool { return true }
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = DefaultJitter
	}
	if cfg.CacheRefresh <= 0 {
		cfg.CacheRefresh = time.Hour
	}
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("syncer: jitter %v out of [0, 1)", cfg.Jitter)
	}
	if cfg.Parse == nil {
		cfg.Parse = func(page []byte) (*icalparse.Calendar, error) {
			return icalparse.ParseBytes(page, icalparse.Options{Logger: cfg.Logger})
		}
	}
	if cfg.Plan == nil {
		res, opts := cfg.ResourceID, plan.Options{Expand: recur.Options{NoExpansion: !cfg.ExpandSeries}, Room: cfg.RoomID}
		cfg.Plan = func(events []schedule.Event, from, to time.Time) plan.Plan {
			return plan.BuildWith(events, res, from, to, opts)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{
		cfg:     cfg,
		log:     log,
		updates: make(chan struct{}, 1),
		now:     make(chan struct{}, 1),
		rng:     cfg.Rand,
		seed:    maphash.MakeSeed(),
	}
	return s, nil
}

// Current returns the schedule the box acts on: the last complete one, or
// nil before any (no cache, no successful sync). Safe for concurrent use.
func (s *Syncer) Current() *Snapshot { return s.cur.Load() }

// Updates delivers a signal after each change of Current (coalesced: one
// pending signal at most). The controller reads Current when it fires.
func (s *Syncer) Updates() <-chan struct{} { return s.updates }

// SyncNow asks the loop for a sync as soon as possible (from the console).
// It does not wait; several requests before the sync make one.
func (s *Syncer) SyncNow() {
	select {
	case s.now <- struct{}{}:
	default:
	}
}

// Status returns the sync status for the console.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if c := s.cur.Load(); c != nil {
		st.HaveSchedule = true
		st.Events, st.Entries, st.Rejected = len(c.Events), len(c.Plan.Entries), c.Rejected
		st.Conflicts, st.Problems = c.Plan.Conflicted, len(c.Plan.Problems)
		st.Recordings = 0
		for _, e := range c.Plan.Entries {
			if e.Record {
				st.Recordings++
			}
		}
		st.Transport, st.Source, st.FetchedAt = c.Transport, c.Source, c.FetchedAt
		st.From, st.To, st.FromCache = c.From, c.To, c.FromCache
	}
	return st
}

func (s *Syncer) notify() {
	select {
	case s.updates <- struct{}{}:
	default:
	}
}

// LoadCache loads the last good schedule from the store and makes it
// current, before any network. Run calls it when it has not been called.
// It needs no clock: the occurrences are those of the cached window. A
// corrupt file is reported (and the store moves it aside); the box then
// starts with no schedule until the first sync.
func (s *Syncer) LoadCache() error {
	s.mu.Lock()
	s.loaded = true
	s.mu.Unlock()
	e, err := s.cfg.Store.Load()
	if err != nil {
		s.setCacheErr(err)
		s.log.Error("last good schedule not loaded", "err", err)
		return fmt.Errorf("syncer: loading the last good schedule: %w", err)
	}
	if e == nil {
		s.log.Info("no last good schedule on disk")
		return nil
	}
	p := s.cfg.Plan(e.Events, e.From, e.To)
	snap := &Snapshot{
		Events: e.Events, Plan: p, From: e.From, To: e.To,
		FetchedAt: e.FetchedAt, Transport: e.Transport, Source: e.Source,
		Total: e.Total, Rejected: e.Rejected, FromCache: true,
	}
	s.syncMu.Lock()
	// A sync may have completed meanwhile; never go back to older data.
	swapped := s.cur.CompareAndSwap(nil, snap)
	if swapped {
		s.files, s.ftpSvc, s.hashes = e.Files, e.FTPService, nil
	}
	s.syncMu.Unlock()
	if swapped {
		s.log.Info("last good schedule loaded", "events", len(e.Events), "entries", len(p.Entries),
			"fetched_at", e.FetchedAt, "source", e.Source)
		s.notify()
	}
	return nil
}

func (s *Syncer) setCacheErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.st.CacheError = ""
	} else {
		s.st.CacheError = err.Error()
	}
}

// sync1 tries one sync. On success the new schedule is current; on any
// failure the current schedule is left as it was.
func (s *Syncer) sync1(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	now := s.cfg.Clock()
	if !s.cfg.Trusted() {
		return ErrClockUntrusted
	}
	// cur changes only under syncMu: prev is the schedule this sync
	// replaces. Pages are parsed as they arrive (headStart).
	prev := s.cur.Load()
	hs := s.startHeadStart(prev)
	defer hs.abandon() // no worker outlives sync1, even if Fetch panics
	l, err := s.cfg.Fetcher.Fetch(ctx, fetch.Request{Now: now, Previous: s.files, FTPService: s.ftpSvc, OnPage: hs.add})
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	hs.finish()
	events, rejected, hashes, err := s.parseListing(l, prev, hs)
	if err != nil {
		return err
	}
	p := s.cfg.Plan(events, l.From, l.To)
	done := s.cfg.Clock()
	snap := &Snapshot{
		Events: events, Plan: p, From: l.From, To: l.To,
		FetchedAt: done, Transport: l.Transport, Source: l.Source,
		Total: l.Total, Rejected: rejected,
	}
	var old plan.Plan
	if prev != nil {
		old = prev.Plan
	}
	s.logDiff(plan.Diff(old, p), snap, l)

	// Save first, so that what the box acts on is on disk. The file is
	// rewritten only when the schedule changed (or the last write failed,
	// or it is older than CacheRefresh): a 10,000-event schedule is
	// megabytes, and rewriting it every two minutes would wear the SD card
	// for nothing. A failed save does not hold the new schedule back: it
	// is complete and newer than the cached one; the console shows the
	// cache error. (Saving while the plan is built was tried: it saves
	// little time and raises the peak heap by about 8 MiB, both holding
	// their working memory at once.)
	if s.mustSave(prev, events, l, done) {
		serr := s.cfg.Store.Save(&cache.Entry{
			FetchedAt: done, Transport: l.Transport, Source: l.Source, From: l.From, To: l.To,
			Total: l.Total, Rejected: rejected, Events: events, Files: l.Files, FTPService: l.FTPService,
		})
		if serr != nil {
			s.log.Error("saving the last good schedule failed", "err", serr)
			s.savedAt = time.Time{}
		} else {
			s.savedAt = done
		}
		s.setCacheErr(serr)
	}
	s.files, s.ftpSvc, s.hashes = l.Files, l.FTPService, hashes
	s.cur.Store(snap)
	s.notify()
	return nil
}

// mustSave decides whether the cache file must be rewritten.
func (s *Syncer) mustSave(prev *Snapshot, events []schedule.Event, l *fetch.Listing, now time.Time) bool {
	switch {
	case prev == nil, s.savedAt.IsZero(): // first sync of this run, or the last write failed
		return true
	case now.Sub(s.savedAt) >= s.cfg.CacheRefresh || now.Before(s.savedAt):
		return true
	case l.Transport != prev.Transport || l.Source != prev.Source:
		return true
	case l.Stats.Downloaded > 0 || len(l.Files) != len(s.files):
		return true // the FTP file index changed
	}
	return !sameEvents(prev.Events, events)
}

// sameEvents compares two event lists sorted alike (start, then id).
func sameEvents(a, b []schedule.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameEvent(&a[i], &b[i]) {
			return false
		}
	}
	return true
}

func sameEvent(a, b *schedule.Event) bool {
	return a.ID == b.ID && a.ParentID == b.ParentID && a.UID == b.UID && a.PartnerID == b.PartnerID &&
		a.Type == b.Type && a.Status == b.Status && a.Title == b.Title && a.Description == b.Description &&
		a.Location == b.Location && a.Priority == b.Priority && a.Sequence == b.Sequence &&
		a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.TZID == b.TZID && a.OwnerID == b.OwnerID &&
		slices.Equal(a.ResourceIDs, b.ResourceIDs) && a.Tags == b.Tags && a.TemplateEntryID == b.TemplateEntryID &&
		slices.Equal(a.EntryIDs, b.EntryIDs) && slices.Equal(a.CategoryIDs, b.CategoryIDs) &&
		a.RRule == b.RRule && a.RRuleName == b.RRuleName && a.Updated.Equal(b.Updated)
}

// parseListing parses every page. Any page that fails to parse (including
// a VERROR) fails the whole sync. The ids parsed (plus those rejected)
// must be exactly the ids the fetcher counted. An event the parser
// rejected keeps its last good version when there is one.
func (s *Syncer) parseListing(l *fetch.Listing, prev *Snapshot, hs *headStart) ([]schedule.Event, int, map[uint64]int64, error) {
	cals, hashes, err := s.parsePages(l.Pages, prev, hs)
	if err != nil {
		return nil, 0, nil, err
	}
	events := make([]schedule.Event, 0, l.Total)
	seen := make(map[int64]bool, l.Total)
	var rejectedIDs []int64
	rejected := 0
	for i, p := range l.Pages {
		cal := cals[i]
		cals[i] = nil // copied into events below: let the page's events go
		want := make(map[int64]bool, len(p.IDs))
		for _, id := range p.IDs {
			want[id] = true
		}
		got := 0
		for _, ev := range cal.Events {
			if !want[ev.ID] {
				return nil, 0, nil, fmt.Errorf("%s: event %d parsed but not listed: %w", p.Name, ev.ID, ErrInconsistent)
			}
			got++
			if seen[ev.ID] {
				continue // the same event on two pages: the listing proved the count
			}
			seen[ev.ID] = true
			events = append(events, ev)
		}
		for _, r := range cal.Rejected {
			got++
			rejected++
			if r.EventID != 0 && !seen[r.EventID] {
				rejectedIDs = append(rejectedIDs, r.EventID)
			}
		}
		if got != len(p.IDs) {
			return nil, 0, nil, fmt.Errorf("%s: %d events listed, %d parsed or rejected: %w", p.Name, len(p.IDs), got, ErrInconsistent)
		}
		if l.Transport == "https" && cal.TotalCount != notParsedWhole && cal.TotalCount != l.Total {
			return nil, 0, nil, fmt.Errorf("%s: total %d, listing total %d: %w", p.Name, cal.TotalCount, l.Total, ErrInconsistent)
		}
	}
	if rejected > 0 {
		kept := 0
		if prev != nil {
			byID := make(map[int64]int, len(prev.Events))
			for i, ev := range prev.Events {
				byID[ev.ID] = i
			}
			for _, id := range rejectedIDs {
				if i, ok := byID[id]; ok && !seen[id] {
					seen[id] = true
					events = append(events, prev.Events[i])
					kept++
				}
			}
		}
		s.log.Warn("events rejected by the parser", "rejected", rejected, "kept_last_good", kept)
	}
	sort.Slice(events, func(i, j int) bool {
		if !events[i].Start.Equal(events[j].Start) {
			return events[i].Start.Before(events[j].Start)
		}
		return events[i].ID < events[j].ID
	})
	return events, rejected, hashes, nil
}

// notParsedWhole marks a calendar assembled from reused events and a
// partial parse: its TotalCount was not read from the page.
const notParsedWhole = -2

// parsePages parses the pages concurrently (one worker per CPU; the parse
// dominates a sync) and returns one calendar per page, in order, or the
// error of the first page that failed.
//
// Unchanged events are not parsed again: an event whose VEVENT bytes hash
// to the same value, with the same id, as an event parsed in the last good
// sync is taken from the last good schedule (prev). Only the other events
// of a page are parsed, as a calendar of their own. Identical bytes give
// an identical result, so this changes the cost, not the outcome. The
// returned map is the hash index of this sync's events.
//
// Pages already parsed by the head start (hs, may be nil) while the
// listing was being fetched are taken from it: a page whose bytes are
// identical to a page parsed there has the same result.
//
// Each page's body is dropped once parsed (the listing belongs to this
// sync), which lowers the peak heap.
func (s *Syncer) parsePages(pages []fetch.Page, prev *Snapshot, hs *headStart) ([]*icalparse.Calendar, map[uint64]int64, error) {
	prevByID := s.prevIndex(prev)
	cals := make([]*icalparse.Calendar, len(pages))
	hashes := make([]map[uint64]int64, len(pages))
	errs := make([]error, len(pages))
	var todo []int
	for i := range pages {
		if r, ok := hs.result(pages[i].Body); ok {
			cals[i], hashes[i], errs[i] = r.cal, r.hashes, r.err
			pages[i].Body = nil
			continue
		}
		todo = append(todo, i)
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	var next atomic.Int64
	var failed atomic.Bool
	var wg gosync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(todo) || failed.Load() {
					return
				}
				i := todo[k]
				cals[i], hashes[i], errs[i] = s.parsePage(&pages[i], prev, prevByID)
				if errs[i] != nil {
					failed.Store(true)
				}
				pages[i].Body = nil // parsed: let the memory go before planning
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("parse %s: %w", pages[i].Name, err)
		}
	}
	all := make(map[uint64]int64, len(s.hashes)+1)
	for _, h := range hashes {
		for k, v := range h {
			all[k] = v
		}
	}
	return cals, all, nil
}

// prevIndex maps the ids of prev's events to their index, when unchanged
// events can be reused (the last sync's hashes are known); else nil.
func (s *Syncer) prevIndex(prev *Snapshot) map[int64]int {
	if prev == nil || len(s.hashes) == 0 {
		return nil
	}
	m := make(map[int64]int, len(prev.Events))
	for i := range prev.Events {
		m[prev.Events[i].ID] = i
	}
	return m
}

// headStart parses the pages of a listing while the fetcher downloads the
// next ones (fetch.Request.OnPage). While the fetch runs it uses one CPU
// fewer than there are (the fetch needs one: the download is the longer
// path); when the fetch is over, the pages still queued are parsed on
// every CPU. Results are keyed by the page's content: a page of a listing
// that was abandoned and paged again is used only when the final listing
// holds the same bytes, which parse to the same result (parsePage depends
// only on the bytes and on state that does not change during sync1). A nil
// *headStart holds nothing.
type headStart struct {
	s        *Syncer
	prevByID map[int64]int
	prev     *Snapshot
	queue    chan queuedPage
	stop     atomic.Bool
	wg       gosync.WaitGroup
	workers  int

	mu     gosync.Mutex
	closed bool             // queue closed: pages are no longer taken
	queued map[pageKey]bool // pages queued once (a re-listing repeats them)
	done   map[pageKey]pageResult
}

type queuedPage struct {
	key  pageKey
	page fetch.Page
}

type pageKey struct {
	hash uint64
	size int
}

type pageResult struct {
	cal    *icalparse.Calendar
	hashes map[uint64]int64
	err    error
}

// headStartQueue bounds the pages waiting for a worker; a page that finds
// the queue full is parsed after the fetch instead.
const headStartQueue = 2 * fetch.MaxMatches / fetch.PageSize

func (s *Syncer) startHeadStart(prev *Snapshot) *headStart {
	h := &headStart{
		s: s, prev: prev, prevByID: s.prevIndex(prev),
		queue:  make(chan queuedPage, headStartQueue),
		queued: map[pageKey]bool{},
		done:   map[pageKey]pageResult{},
	}
	h.workers = max(1, runtime.GOMAXPROCS(0)-1)
	for range h.workers {
		h.startWorker(prev)
	}
	return h
}

func (h *headStart) startWorker(prev *Snapshot) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for q := range h.queue {
			if h.stop.Load() {
				continue
			}
			var r pageResult
			r.cal, r.hashes, r.err = h.s.parsePage(&q.page, prev, h.prevByID)
			h.mu.Lock()
			h.done[q.key] = r
			h.mu.Unlock()
		}
	}()
}

func (h *headStart) key(body []byte) pageKey {
	return pageKey{hash: maphash.Bytes(h.s.seed, body), size: len(body)}
}

// add queues a page (fetch.Request.OnPage) unless the same bytes were
// queued before; it never blocks, and does nothing once the fetch is over.
func (h *headStart) add(p fetch.Page) {
	if len(p.Body) == 0 {
		return
	}
	k := h.key(p.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.queued[k] {
		return
	}
	select {
	case h.queue <- queuedPage{key: k, page: p}:
		h.queued[k] = true
	default:
	}
}

// finish waits until every queued page is parsed, on every CPU. Calls
// after the first (or after abandon) do nothing.
func (h *headStart) finish() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.queue)
	h.mu.Unlock()
	if !h.stop.Load() {
		for range runtime.GOMAXPROCS(0) - h.workers {
			h.startWorker(h.prev)
		}
	}
	h.wg.Wait()
}

// abandon drops the pages not parsed yet and waits for the workers.
func (h *headStart) abandon() {
	h.stop.Store(true)
	h.finish()
}

// result returns the head start's parse of a page with these bytes, and
// forgets it (the caller holds it from now on).
func (h *headStart) result(body []byte) (pageResult, bool) {
	if h == nil || len(body) == 0 {
		return pageResult{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.done) == 0 {
		return pageResult{}, false
	}
	k := h.key(body)
	r, ok := h.done[k]
	delete(h.done, k)
	return r, ok
}

// parsePage parses one page, reusing unchanged events of prev.
func (s *Syncer) parsePage(p *fetch.Page, prev *Snapshot, prevByID map[int64]int) (*icalparse.Calendar, map[uint64]int64, error) {
	hs := make([]uint64, len(p.Spans))
	for i, sp := range p.Spans {
		if sp.Start < 0 || sp.End > len(p.Body) || sp.Start > sp.End {
			return nil, nil, fmt.Errorf("bad span %+v", sp)
		}
		hs[i] = maphash.Bytes(s.seed, p.Body[sp.Start:sp.End])
	}
	out := map[uint64]int64{}
	var reused []schedule.Event
	var todo []int // spans to parse
	for i, sp := range p.Spans {
		if id, ok := s.hashes[hs[i]]; ok && id == sp.ID && prevByID != nil {
			if j, ok := prevByID[id]; ok {
				reused = append(reused, prev.Events[j])
				out[hs[i]] = id
				continue
			}
		}
		todo = append(todo, i)
	}
	if len(todo) == len(p.Spans) || len(p.Spans) == 0 {
		// Nothing to reuse: parse the page as it came.
		cal, err := s.cfg.Parse(p.Body)
		if err != nil {
			return nil, nil, err
		}
		s.indexParsed(cal, p.Spans, hs, out)
		return cal, out, nil
	}
	cal := &icalparse.Calendar{TotalCount: notParsedWhole, Events: reused}
	if len(todo) > 0 {
		var b bytes.Buffer
		b.WriteString("BEGIN:VCALENDAR\r\n")
		for _, i := range todo {
			b.Write(p.Body[p.Spans[i].Start:p.Spans[i].End])
			if !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
				b.WriteString("\r\n")
			}
		}
		b.WriteString("END:VCALENDAR\r\n")
		part, err := s.cfg.Parse(b.Bytes())
		if err != nil {
			return nil, nil, err
		}
		sp := make([]fetch.Span, len(todo))
		h := make([]uint64, len(todo))
		for k, i := range todo {
			sp[k], h[k] = p.Spans[i], hs[i]
		}
		s.indexParsed(part, sp, h, out)
		cal.Events = append(cal.Events, part.Events...)
		cal.Rejected = part.Rejected
	}
	return cal, out, nil
}

// indexParsed records the hash of each accepted event's bytes.
func (s *Syncer) indexParsed(cal *icalparse.Calendar, spans []fetch.Span, hs []uint64, out map[uint64]int64) {
	accepted := make(map[int64]bool, len(cal.Events))
	for _, ev := range cal.Events {
		accepted[ev.ID] = true
	}
	for i, sp := range spans {
		if accepted[sp.ID] {
			out[hs[i]] = sp.ID
		}
	}
}

const diffKeysLogged = 20

func (s *Syncer) logDiff(d plan.Changes, snap *Snapshot, l *fetch.Listing) {
	attrs := []any{
		"events", len(snap.Events), "entries", len(snap.Plan.Entries),
		"added", len(d.Added), "removed", len(d.Removed), "changed", len(d.Changed),
		"transport", l.Transport, "requests", l.Stats.Requests, "bytes", l.Stats.Bytes,
	}
	if l.Stats.Relists > 0 {
		attrs = append(attrs, "relists", l.Stats.Relists)
	}
	if l.Transport == "ftp" {
		attrs = append(attrs, "downloaded", l.Stats.Downloaded, "reused", l.Stats.Reused)
	}
	if d.Empty() {
		s.log.Debug("schedule synced, unchanged", attrs...)
		return
	}
	var added, removed, changed []string
	for _, e := range d.Added {
		added = append(added, e.Key)
	}
	for _, e := range d.Removed {
		removed = append(removed, e.Key)
	}
	for _, c := range d.Changed {
		changed = append(changed, c.New.Key+"("+strings.Join(c.Fields, ",")+")")
	}
	attrs = append(attrs,
		"added_keys", headKeys(added), "removed_keys", headKeys(removed), "changed_keys", headKeys(changed))
	s.log.Info("schedule synced, changed", attrs...)
	for _, pr := range snap.Plan.Problems {
		s.log.Warn("schedule problem", "event_id", pr.EventID, "reason", pr.Reason)
	}
}

func headKeys(k []string) []string {
	if len(k) > diffKeysLogged {
		out := append([]string(nil), k[:diffKeysLogged]...)
		return append(out, "…+"+strconv.Itoa(len(k)-diffKeysLogged))
	}
	return k
}
