// Package syncer keeps the box's schedule current: it fetches the complete
// listing (sync/fetch), parses every page (sync/icalparse), turns the events
// into the occurrences of the window (sync/recur, or an injected Planner),
// logs what changed, saves the result as the last good schedule
// (sync/cache) and swaps it in atomically for the controller.
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
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/capturebox/capturebox/sync/cache"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/icalparse"
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

// Clock returns the current time and whether it is trustworthy (NTP
// synchronised, or confirmed later than the build time). No sync runs on an
// untrusted clock: the window would be wrong.
type Clock func() (now time.Time, trusted bool)

// ParseFunc parses one raw page (an API page or an FTP file).
type ParseFunc func(page []byte) (*icalparse.Calendar, error)

// Planner turns the events of a complete listing into the occurrences of
// [from, to). It must not keep or modify events.
type Planner func(events []schedule.Event, from, to time.Time) ([]schedule.Occurrence, error)

// ExpandPlanner is a Planner built on recur.Expand. Series whose expansion
// failed are logged by the syncer through the returned error only when no
// occurrence came out at all; partial expansions are kept.
func ExpandPlanner(opts recur.Options) Planner {
	return func(events []schedule.Event, from, to time.Time) ([]schedule.Occurrence, error) {
		return recur.Expand(events, from, to, opts).Occurrences, nil
	}
}

// Config configures a Syncer. Fetcher, Store and Clock are required.
type Config struct {
	Fetcher Fetcher
	Store   Store
	Clock   Clock
	// Rand drives the jitter; nil seeds one from the clock's first reading
	// (tests inject a seeded one).
	Rand *rand.Rand
	// Parse defaults to icalparse.Parse with its default limits.
	Parse ParseFunc
	// Plan defaults to ExpandPlanner(recur.Options{NoExpansion: true}):
	// the default query (recurrenceTypeIn=0,2) returns concrete events
	// only, so a series alone is never expanded.
	Plan Planner
	// ResourceIDs, when set, is checked on the box as well as by the
	// server's filter (kaltura.md §8: any CAPTURE_DEVICE session sees the
	// whole partner): an event whose X-KALTURA-RESOURCE-IDS names none of
	// them is dropped with a warning. Leave empty when filtering by
	// location (the cameras under it are not known here).
	ResourceIDs []int64
	// Interval between syncs; Jitter the ± fraction applied to every
	// delay; MinBackoff/MaxBackoff bound the delay after failures
	// (doubling from MinBackoff); LogEvery rate-limits the warning for a
	// failure that repeats.
	Interval, MinBackoff, MaxBackoff, LogEvery time.Duration
	Jitter                                     float64
	Logger                                     *slog.Logger
}

// Snapshot is one complete schedule. It is immutable: never modify it.
type Snapshot struct {
	// Events is the complete event list of the listing (after the
	// resource check), sorted by start then id.
	Events []schedule.Event
	// Occurrences are the occurrences of [From, To), sorted by start then
	// key. Cancelled ones are included (shown, not recorded).
	Occurrences []schedule.Occurrence
	From, To    time.Time
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
	Events, Occurrences, Rejected int
	Transport, Source             string
	FetchedAt                     time.Time
	From, To                      time.Time
	FromCache                     bool
	HaveSchedule                  bool
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

	syncMu gosync.Mutex // one sync1 at a time; guards files, ftpService
	files  []fetch.File
	ftpSvc string

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
	if cfg.Jitter < 0 || cfg.Jitter >= 1 {
		return nil, fmt.Errorf("syncer: jitter %v out of [0, 1)", cfg.Jitter)
	}
	if cfg.Parse == nil {
		cfg.Parse = func(page []byte) (*icalparse.Calendar, error) {
			return icalparse.Parse(bytes.NewReader(page), icalparse.Options{Logger: cfg.Logger})
		}
	}
	if cfg.Plan == nil {
		cfg.Plan = ExpandPlanner(recur.Options{NoExpansion: true})
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
		st.Events, st.Occurrences, st.Rejected = len(c.Events), len(c.Occurrences), c.Rejected
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
	occ, err := s.cfg.Plan(e.Events, e.From, e.To)
	if err != nil {
		s.setCacheErr(err)
		s.log.Error("last good schedule not usable", "err", err)
		return fmt.Errorf("syncer: planning the cached schedule: %w", err)
	}
	snap := &Snapshot{
		Events: e.Events, Occurrences: sortOccurrences(occ), From: e.From, To: e.To,
		FetchedAt: e.FetchedAt, Transport: e.Transport, Source: e.Source,
		Total: e.Total, Rejected: e.Rejected, FromCache: true,
	}
	s.syncMu.Lock()
	s.files, s.ftpSvc = e.Files, e.FTPService
	// A sync may have completed meanwhile; never go back to older data.
	swapped := s.cur.CompareAndSwap(nil, snap)
	s.syncMu.Unlock()
	if swapped {
		s.log.Info("last good schedule loaded", "events", len(e.Events), "occurrences", len(occ),
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
	now, trusted := s.cfg.Clock()
	if !trusted {
		return ErrClockUntrusted
	}
	l, err := s.cfg.Fetcher.Fetch(ctx, fetch.Request{Now: now, Previous: s.files, FTPService: s.ftpSvc})
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	prev := s.cur.Load()
	events, rejected, err := s.parseListing(l, prev)
	if err != nil {
		return err
	}
	events = s.checkResources(events)
	occ, err := s.cfg.Plan(events, l.From, l.To)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	done, _ := s.cfg.Clock()
	snap := &Snapshot{
		Events: events, Occurrences: sortOccurrences(occ), From: l.From, To: l.To,
		FetchedAt: done, Transport: l.Transport, Source: l.Source,
		Total: l.Total, Rejected: rejected,
	}
	var old []schedule.Occurrence
	if prev != nil {
		old = prev.Occurrences
	}
	d := DiffOccurrences(old, snap.Occurrences)
	s.logDiff(d, snap, l)

	// Save first, so that what the box acts on is on disk. A failed save
	// does not hold the new schedule back: it is complete and newer than
	// the cached one; the console shows the cache error.
	serr := s.cfg.Store.Save(&cache.Entry{
		FetchedAt: done, Transport: l.Transport, Source: l.Source, From: l.From, To: l.To,
		Total: l.Total, Rejected: rejected, Events: events, Files: l.Files, FTPService: l.FTPService,
	})
	if serr != nil {
		s.log.Error("saving the last good schedule failed", "err", serr)
	}
	s.setCacheErr(serr)
	s.files, s.ftpSvc = l.Files, l.FTPService
	s.cur.Store(snap)
	s.notify()
	return nil
}

// parseListing parses every page. Any page that fails to parse (including
// a VERROR) fails the whole sync. The ids parsed (plus those rejected)
// must be exactly the ids the fetcher counted. An event the parser
// rejected keeps its last good version when there is one.
func (s *Syncer) parseListing(l *fetch.Listing, prev *Snapshot) ([]schedule.Event, int, error) {
	events := make([]schedule.Event, 0, l.Total)
	seen := make(map[int64]bool, l.Total)
	var rejectedIDs []int64
	rejected := 0
	for _, p := range l.Pages {
		cal, err := s.cfg.Parse(p.Body)
		if err != nil {
			return nil, 0, fmt.Errorf("parse %s: %w", p.Name, err)
		}
		want := make(map[int64]bool, len(p.IDs))
		for _, id := range p.IDs {
			want[id] = true
		}
		got := 0
		for _, ev := range cal.Events {
			if !want[ev.ID] {
				return nil, 0, fmt.Errorf("%s: event %d parsed but not listed: %w", p.Name, ev.ID, ErrInconsistent)
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
			return nil, 0, fmt.Errorf("%s: %d events listed, %d parsed or rejected: %w", p.Name, len(p.IDs), got, ErrInconsistent)
		}
		if l.Transport == "https" && cal.TotalCount != l.Total {
			return nil, 0, fmt.Errorf("%s: total %d, listing total %d: %w", p.Name, cal.TotalCount, l.Total, ErrInconsistent)
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
	return events, rejected, nil
}

func (s *Syncer) checkResources(events []schedule.Event) []schedule.Event {
	if len(s.cfg.ResourceIDs) == 0 {
		return events
	}
	out := events[:0:0]
	var dropped []int64
	for _, ev := range events {
		ok := false
		for _, r := range ev.ResourceIDs {
			if slices.Contains(s.cfg.ResourceIDs, r) {
				ok = true
				break
			}
		}
		if ok {
			out = append(out, ev)
		} else {
			dropped = append(dropped, ev.ID)
		}
	}
	if len(dropped) > 0 {
		s.log.Warn("events not booked on this box's resource dropped", "count", len(dropped), "ids", headIDs(dropped, 20))
	}
	return out
}

func headIDs(ids []int64, n int) []int64 {
	if len(ids) > n {
		return ids[:n]
	}
	return ids
}

func sortOccurrences(occ []schedule.Occurrence) []schedule.Occurrence {
	sort.SliceStable(occ, func(i, j int) bool {
		if !occ[i].Start.Equal(occ[j].Start) {
			return occ[i].Start.Before(occ[j].Start)
		}
		return occ[i].Key < occ[j].Key
	})
	return occ
}

// Diff is what changed between two schedules, by occurrence key.
type Diff struct {
	Added, Removed, Changed []string
}

// Empty reports whether nothing changed.
func (d Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// DiffOccurrences compares two occurrence lists by Key. Changed lists keys
// present in both whose fields differ (times compared as instants).
func DiffOccurrences(old, cur []schedule.Occurrence) Diff {
	var d Diff
	om := make(map[string]*schedule.Occurrence, len(old))
	for i := range old {
		om[old[i].Key] = &old[i]
	}
	nm := make(map[string]bool, len(cur))
	for i := range cur {
		o := &cur[i]
		nm[o.Key] = true
		p, ok := om[o.Key]
		switch {
		case !ok:
			d.Added = append(d.Added, o.Key)
		case !sameOccurrence(p, o):
			d.Changed = append(d.Changed, o.Key)
		}
	}
	for i := range old {
		if !nm[old[i].Key] {
			d.Removed = append(d.Removed, old[i].Key)
		}
	}
	sort.Strings(d.Added)
	sort.Strings(d.Removed)
	sort.Strings(d.Changed)
	return d
}

func sameOccurrence(a, b *schedule.Occurrence) bool {
	return a.EventID == b.EventID && a.ParentID == b.ParentID && a.Type == b.Type && a.Status == b.Status &&
		a.Title == b.Title && a.Description == b.Description && a.Priority == b.Priority &&
		a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.TZID == b.TZID &&
		slices.Equal(a.ResourceIDs, b.ResourceIDs) && a.Tags == b.Tags &&
		a.TemplateEntryID == b.TemplateEntryID && slices.Equal(a.CategoryIDs, b.CategoryIDs) &&
		a.Updated.Equal(b.Updated)
}

const diffKeysLogged = 20

func (s *Syncer) logDiff(d Diff, snap *Snapshot, l *fetch.Listing) {
	attrs := []any{
		"events", len(snap.Events), "occurrences", len(snap.Occurrences),
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
	attrs = append(attrs,
		"added_keys", headKeys(d.Added), "removed_keys", headKeys(d.Removed), "changed_keys", headKeys(d.Changed))
	s.log.Info("schedule synced, changed", attrs...)
}

func headKeys(k []string) []string {
	if len(k) > diffKeysLogged {
		out := append([]string(nil), k[:diffKeysLogged]...)
		return append(out, "…+"+strconv.Itoa(len(k)-diffKeysLogged))
	}
	return k
}
