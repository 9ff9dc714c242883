package upload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal/atomicfile"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// ShortPolicy says what happens to a recording shorter than MinLength.
type ShortPolicy string

// Short-recording policies.
const (
	// ShortUploadTagged uploads it with ShortTag added to its tags.
	ShortUploadTagged ShortPolicy = "upload-tagged"
	// ShortKeepLocal keeps it on the box (state kept_local, listed on the
	// console, a warning fault); Retry uploads it anyway.
	ShortKeepLocal ShortPolicy = "keep-local"
)

// QueueOptions configure a Queue. API is required; everything else has a
// default.
type QueueOptions struct {
	API    API
	Logger *slog.Logger
	Clock  Clock
	// Rand supplies the backoff jitter; default a randomly seeded source.
	Rand *rand.Rand
	// ChunkSize of the resumable upload; default 4 MiB.
	ChunkSize int64
	// ChunksInFlight is how many middle chunks of a file are sent at once
	// (window.go); default DefaultChunksInFlight (2), 1 sends one at a time.
	ChunksInFlight int
	// BandwidthLimit in bytes per second (0 = unlimited), or a shared Limiter.
	BandwidthLimit int64
	Limiter        *Limiter
	// Location is the box's time zone, for entry names; default UTC.
	Location *time.Location
	// DefaultTemplateEntryID is used for recordings without a template
	// (ad-hoc): kaltura.default_template_entry_id.
	DefaultTemplateEntryID string
	// MinLength and ShortPolicy handle very short recordings; ShortTag
	// defaults to "capturebox-short".
	MinLength   time.Duration
	ShortPolicy ShortPolicy
	ShortTag    string
	// Backoff for transient errors: jittered exponential from MinBackoff
	// (default 2 s) to MaxBackoff (default 5 min).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval (default 15 s) grows to MaxPollInterval (default 5 min)
	// while an entry is being processed.
	PollInterval, MaxPollInterval time.Duration
	// AddSettle is how long after a media.add of unknown outcome the queue
	// waits before sending another one; default 2 min.
	AddSettle time.Duration
	// UnverifiedRetention is how long the local file of a recording
	// delivered but not verified is kept when nobody acknowledges it
	// (upload.unverified_retention); default 30 days.
	UnverifiedRetention time.Duration
	// ConfigRecheck is how often a queue stopped by a configuration fault
	// (credentials, permissions) tries again on its own; the fault clears
	// by itself once a call works (Recheck tries at once). Default 5 min.
	ConfigRecheck time.Duration
	// BacklogStall: when items wait and no step has succeeded for this
	// long, the queue raises UPLOAD_BACKLOG_STALLED (Stalled); it clears
	// when a step succeeds again. Default 30 min.
	BacklogStall time.Duration
	// OnResume is called (from the queue's goroutine; it must not block)
	// when a queue-wide fault — a configuration stop or a stalled backlog
	// — cleared by itself.
	OnResume func()
	// StuckAfter consecutive failures of one item raise a warning fault
	// ("upload backlog stuck"); default 8.
	StuckAfter int
	// OnFault is called (from the queue's goroutines; it must not block)
	// for each new fault.
	OnFault func(Fault)
	// OnReady is called when a recording's entry is READY: from then on
	// Deletable(id) is true and retention may delete the file. The queue
	// records that it called OnReady; Run calls it at its start for every
	// READY item not yet recorded (a crash may have come between persisting
	// READY and the call), so it is called once per item, or, after a crash
	// at that point, twice: it must be idempotent.
	OnReady func(id, entryID string)

	hook func(point string) error // tests: simulated crashes
}

func (o *QueueOptions) normalize() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = SystemClock
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 4 << 20
	}
	if o.ChunksInFlight <= 0 {
		o.ChunksInFlight = DefaultChunksInFlight
	}
	if h := o.hook; h != nil {
		// Chunks in flight reach the hook from several goroutines.
		var mu sync.Mutex
		o.hook = func(p string) error {
			mu.Lock()
			defer mu.Unlock()
			return h(p)
		}
	}
	if o.Limiter == nil {
		o.Limiter = NewLimiter(o.BandwidthLimit, o.Clock)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.ShortPolicy == "" {
		o.ShortPolicy = ShortUploadTagged
	}
	if o.ShortTag == "" {
		o.ShortTag = "capturebox-short"
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 15 * time.Second
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = 5 * time.Minute
	}
	if o.AddSettle <= 0 {
		o.AddSettle = 2 * time.Minute
	}
	if o.UnverifiedRetention <= 0 {
		o.UnverifiedRetention = DefaultUnverifiedRetention
	}
	if o.ConfigRecheck <= 0 {
		o.ConfigRecheck = 5 * time.Minute
	}
	if o.BacklogStall <= 0 {
		o.BacklogStall = 30 * time.Minute
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = 8
	}
}

// DefaultUnverifiedRetention is QueueOptions.UnverifiedRetention's default.
const DefaultUnverifiedRetention = 30 * 24 * time.Hour

// Queue is the durable upload queue: one JSON state file per recording in
// a directory, each step's result written atomically before the next step
// starts, worked by one goroutine (Run), oldest first.
type Queue struct {
	dir  string
	o    QueueOptions
	eng  *engine
	log  *slog.Logger
	wake chan struct{}

	mu     sync.Mutex
	items  map[string]*qitem
	seq    int64
	paused *Fault // queue-wide fault (credentials, permissions)
	// recheckAt is when a paused queue tries again by itself.
	recheckAt time.Time
	// rechecking: the current step runs while paused (a re-check).
	rechecking bool
	// lastProgress is when a step last succeeded, or the queue last had
	// nothing to do; stalled is the backlog fault raised from it.
	lastProgress time.Time
	stalled      *Fault
	backoff      time.Time
	failures     int
	running      bool
}

type qitem struct {
	st itemState
	rt runtime
}

// OpenQueue opens (creating if needed) the queue in dir and loads every
// item; items interrupted by a crash resume from their last persisted step.
func OpenQueue(dir string, opts QueueOptions) (*Queue, error) {
	if opts.API == nil {
		return nil, errors.New("upload: QueueOptions.API is nil")
	}
	opts.normalize()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("upload: opening queue: %w", err)
	}
	removeStaleTemps(dir)
	q := &Queue{dir: dir, o: opts, log: opts.Logger, wake: make(chan struct{}, 1), items: map[string]*qitem{}}
	api := opts.API
	if opts.hook != nil {
		api = hookedAPI{API: api, hook: opts.hook}
	}
	q.eng = &engine{api: api, o: &q.o, log: q.log, clock: opts.Clock, limiter: opts.Limiter, onReady: q.readied}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("upload: reading queue: %w", err)
	}
	now := opts.Clock.Now()
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "item-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("upload: reading %s: %w", e.Name(), err)
		}
		var st itemState
		if err := json.Unmarshal(b, &st); err != nil {
			// Never drop an item silently: refuse to start, a person must look.
			return nil, fmt.Errorf("upload: queue file %s is corrupt: %w", e.Name(), err)
		}
		if st.State == StateFailed && st.Fault != nil && st.Fault.Code == "ENTRY_ID_UNKNOWN" {
			// Written by an older firmware, which stopped such an item
			// with a fault no command could clear: it is delivered, not
			// verified.
			st.State, st.FailedIn = StateUnverified, ""
			st.Unverified = &Unverified{At: st.Fault.Time, TokenID: st.TokenID, AdminTag: AdminTag(st.Rec), EventID: st.Rec.EventID}
			st.Fault = nil
			if err := q.write(st); err != nil {
				return nil, fmt.Errorf("upload: converting %s: %w", e.Name(), err)
			}
		}
		q.items[st.Rec.ID] = &qitem{st: st, rt: runtime{firstSeen: now}}
		if st.Seq > q.seq {
			q.seq = st.Seq
		}
	}
	return q, nil
}

// Enqueue adds a closed recording. It is durable when Enqueue returns, and
// idempotent on r.ID (a second call with the same ID does nothing).
func (q *Queue) Enqueue(r Recording) error {
	if r.ID == "" {
		return errors.New("upload: recording has no id")
	}
	fi, err := os.Stat(r.Path)
	if err != nil {
		return fmt.Errorf("upload: enqueue %s: %w", r.ID, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.items[r.ID]; ok {
		return nil
	}
	now := q.o.Clock.Now()
	st := itemState{Version: 1, Seq: q.seq + 1, Rec: r, State: StateQueued, Size: fi.Size(), FileName: uploadFileName(r.Path),
		EnqueuedAt: now, UpdatedAt: now}
	var fault *Fault
	if q.o.MinLength > 0 && r.Duration > 0 && r.Duration < q.o.MinLength {
		st.Short = true
		if q.o.ShortPolicy == ShortKeepLocal {
			st.State = StateKeptLocal
			fault = &Fault{ItemID: r.ID, Severity: SeverityWarning, Code: "RECORDING_TOO_SHORT", Setting: "recording.short_policy",
				Message: fmt.Sprintf("recording is %s long, shorter than recording.min_length %s: kept on the box, not uploaded", r.Duration, q.o.MinLength), Time: now}
			st.Warnings = append(st.Warnings, *fault)
		}
	}
	if err := q.write(st); err != nil {
		return fmt.Errorf("upload: enqueue %s: %w", r.ID, err)
	}
	if !q.pendingLocked() {
		// The backlog was empty: it starts moving (or stalling) now.
		q.lastProgress = now
	}
	q.seq++
	q.items[r.ID] = &qitem{st: st, rt: runtime{firstSeen: now}}
	q.log.Info("recording queued", "item", r.ID, "bytes", st.Size, "state", st.State)
	if fault != nil {
		q.emit(*fault)
	}
	q.poke()
	return nil
}

// pendingLocked reports whether an item waits for work; q.mu is held.
func (q *Queue) pendingLocked() bool {
	for _, it := range q.items {
		if !it.st.State.Terminal() {
			return true
		}
	}
	return false
}

// uploadFileName is the file name sent with the upload: the real base name,
// with ".mp4" added if it has no extension (the extension drives Kaltura's
// media-type detection).
func uploadFileName(path string) string {
	b := filepath.Base(path)
	if b == "." || b == "/" || b == "" {
		b = "recording"
	}
	if filepath.Ext(b) == "" {
		b += ".mp4"
	}
	return b
}

func (q *Queue) write(st itemState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(q.dir, fileNameFor(st.Rec.ID)), b, 0o600)
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) emit(f Fault) {
	if f.Time.IsZero() {
		f.Time = q.o.Clock.Now()
	}
	q.log.Warn("upload fault", "item", f.ItemID, "entry", f.EntryID, "code", f.Code, "setting", f.Setting, "severity", f.Severity, "msg", f.Message)
	if q.o.OnFault != nil {
		q.o.OnFault(f)
	}
}

// readied tells OnReady that an item is READY, then records that it was
// told, so that a restart does not announce it again (a crash between the
// two announces it once more: at least once, almost always once).
func (q *Queue) readied(st itemState) {
	if q.o.OnReady != nil {
		q.o.OnReady(st.Rec.ID, st.EntryID)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[st.Rec.ID]
	if !ok || it.st.State != StateReady || it.st.ReadyNotified {
		return
	}
	next := it.st.clone()
	next.ReadyNotified = true
	if err := q.write(next); err != nil {
		q.log.Warn("recording that READY was announced", "item", st.Rec.ID, "err", err)
		return
	}
	it.st = next
}

// commit returns the commit function of an item: persist, then publish.
func (q *Queue) commit(it *qitem) commitFunc {
	return func(next itemState) error {
		next.UpdatedAt = q.o.Clock.Now()
		if err := q.write(next); err != nil {
			return fmt.Errorf("persisting queue state: %w", err)
		}
		q.mu.Lock()
		prevWarn := len(it.st.Warnings)
		it.st = next.clone()
		q.mu.Unlock()
		for _, w := range next.Warnings[min(prevWarn, len(next.Warnings)):] {
			q.emit(w)
		}
		if q.o.hook != nil {
			if err := q.o.hook("persisted:" + string(next.State)); err != nil {
				return err
			}
		}
		return nil
	}
}

// next picks the oldest item that may run now, or says how long to wait.
func (q *Queue) next(now time.Time) (*qitem, itemState, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.paused != nil {
		if now.Before(q.recheckAt) {
			return nil, itemState{}, q.recheckAt.Sub(now)
		}
		q.rechecking = true
	} else if now.Before(q.backoff) {
		return nil, itemState{}, q.backoff.Sub(now)
	}
	var best *qitem
	wait := time.Duration(-1)
	for _, it := range q.items {
		if it.st.State.Terminal() {
			continue
		}
		if now.Before(it.rt.notBefore) {
			if d := it.rt.notBefore.Sub(now); wait < 0 || d < wait {
				wait = d
			}
			continue
		}
		if best == nil || it.st.Seq < best.st.Seq {
			best = it
		}
	}
	if best == nil {
		q.rechecking = false
		if wait < 0 {
			// Nothing waits: the backlog is empty, not stalled.
			q.lastProgress = now
		}
		return nil, itemState{}, wait
	}
	return best, best.st.clone(), 0
}

// Run works the queue until ctx is done: one step at a time, oldest item
// first, with backoff on errors. It returns ctx's error.
func (q *Queue) Run(ctx context.Context) error {
	q.mu.Lock()
	if q.running {
		q.mu.Unlock()
		return errors.New("upload: queue already running")
	}
	q.running = true
	q.lastProgress = q.o.Clock.Now()
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}()
	q.mu.Lock()
	var ready []itemState
	for _, it := range q.items {
		if it.st.State == StateReady && !it.st.ReadyNotified {
			ready = append(ready, it.st.clone())
		}
	}
	q.mu.Unlock()
	sort.Slice(ready, func(i, j int) bool { return ready[i].Seq < ready[j].Seq })
	for _, st := range ready {
		q.readied(st)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		it, st, wait := q.next(q.o.Clock.Now())
		if it == nil {
			var timer <-chan time.Time
			if wait >= 0 {
				timer = q.o.Clock.After(wait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-q.wake:
			case <-timer:
			}
			continue
		}
		err := q.upload1(ctx, it, st)
		if errors.Is(err, errCrash) {
			return err
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		q.handle(it, err)
	}
}

// upload1 tries one step of one item.
func (q *Queue) upload1(ctx context.Context, it *qitem, st itemState) error {
	q.mu.Lock()
	it.rt.attempts++
	q.mu.Unlock()
	if q.o.hook != nil {
		if err := q.o.hook("step:" + string(st.State)); err != nil {
			return err
		}
	}
	return q.eng.step(ctx, st, &it.rt, q.commit(it))
}

// globalCodes are configuration faults that concern every item.
func isGlobal(err error) bool {
	var ce *kaltura.ConfigError
	if errors.As(err, &ce) {
		return true
	}
	c := kaltura.Code(err)
	return c == kaltura.CodeMissingKS || c == kaltura.CodeInvalidKS || strings.HasPrefix(c, kaltura.CodeServiceForbidden) ||
		c == "USER_BLOCKED" || c == "ACCESS_UNAUTHORIZED"
}

func settingFor(err error) string {
	var ce *kaltura.ConfigError
	if errors.As(err, &ce) {
		return ce.Setting
	}
	switch c := kaltura.Code(err); {
	case strings.HasPrefix(c, kaltura.CodeServiceForbidden), c == kaltura.CodeInvalidKS, c == "ACCESS_UNAUTHORIZED", c == kaltura.CodeMissingKS:
		return "kaltura.app_token_id (the token's sessionPrivileges must include setrole:CAPTURE_DEVICE_ROLE,disableentitlement)"
	case c == "USER_BLOCKED":
		return "kaltura.app_token_id (the token's session user is blocked)"
	case c == kaltura.CodeMaxChunkCountExceeded:
		return "upload.chunk_size"
	case c == kaltura.CodeFileTypeRestricted:
		return "recording format (the partner restricts this file type)"
	}
	return "recording metadata (title, tags, categories, template)"
}

// handle records the outcome of a step and decides when to try again.
func (q *Queue) handle(it *qitem, err error) {
	now := q.o.Clock.Now()
	if err == nil {
		q.mu.Lock()
		q.failures = 0
		it.rt.failures = 0
		it.rt.lastErr = ""
		q.mu.Unlock()
		q.progressed(now)
		return
	}
	var w *waitError
	if errors.As(err, &w) {
		// The calls of the step worked; it only has to wait.
		q.mu.Lock()
		it.rt.notBefore = now.Add(w.d)
		id := it.st.Rec.ID
		q.mu.Unlock()
		q.progressed(now)
		q.log.Debug("upload waiting", "item", id, "for", w.d, "why", w.why)
		return
	}
	var itf *itemFault
	if errors.As(err, &itf) || (kaltura.Classify(err) == kaltura.ClassConfig && !isGlobal(err)) {
		var f Fault
		if itf != nil {
			f = itf.f
		} else {
			f = Fault{Severity: SeverityError, Code: kaltura.Code(err), Setting: settingFor(err), Message: err.Error()}
		}
		q.fail(it, f)
		return
	}
	if kaltura.Classify(err) == kaltura.ClassConfig {
		f := Fault{Severity: SeverityError, Code: kaltura.Code(err), Setting: settingFor(err),
			Message: "uploads stopped: " + err.Error(), Time: now}
		q.mu.Lock()
		same := q.paused != nil && q.paused.Code == f.Code && q.paused.Setting == f.Setting && q.paused.Message == f.Message
		q.paused = &f
		q.rechecking = false
		q.recheckAt = now.Add(q.o.ConfigRecheck)
		it.rt.lastErr = err.Error()
		q.mu.Unlock()
		if same {
			q.log.Info("upload configuration still refused; checking again later", "code", f.Code, "setting", f.Setting, "next_check", q.o.ConfigRecheck)
			return
		}
		q.emit(f)
		return
	}
	// Transient or unknown: back off the whole queue (the cause, e.g. the
	// network or a rate limit, concerns every item).
	q.mu.Lock()
	if q.rechecking && q.paused != nil {
		// A re-check of a configuration fault failed for another reason
		// (the network): keep the fault, check again later.
		q.rechecking = false
		q.recheckAt = now.Add(q.o.ConfigRecheck)
		q.mu.Unlock()
		q.log.Warn("upload configuration re-check failed; checking again later", "err", err, "next_check", q.o.ConfigRecheck)
		return
	}
	q.failures++
	it.rt.failures++
	it.rt.lastErr = err.Error()
	d := backoff(q.failures, q.o.MinBackoff, q.o.MaxBackoff, q.o.Rand)
	q.backoff = now.Add(d)
	var stall *Fault
	if q.stalled == nil && now.Sub(q.lastProgress) >= q.o.BacklogStall {
		stall = &Fault{Severity: SeverityWarning, Code: "UPLOAD_BACKLOG_STALLED", Time: now,
			Message: fmt.Sprintf("no upload has made progress for %s: last error: %v", now.Sub(q.lastProgress).Round(time.Second), err)}
		q.stalled = stall
	}
	stuck := it.rt.failures >= q.o.StuckAfter && !it.rt.stuckReported
	if stuck {
		it.rt.stuckReported = true
	}
	id := it.st.Rec.ID
	q.mu.Unlock()
	q.log.Warn("upload step failed; backing off", "item", id, "err", err, "class", kaltura.Classify(err), "retry_in", d)
	if stuck {
		q.emit(Fault{ItemID: id, Severity: SeverityWarning, Code: "UPLOAD_STUCK", Message: fmt.Sprintf("upload keeps failing (%d attempts): %v", it.rt.failures, err), Time: now})
	}
	if stall != nil {
		q.emit(*stall)
	}
}

// progressed records that a step's calls worked: a configuration stop or
// a stalled backlog clears by itself.
func (q *Queue) progressed(now time.Time) {
	q.mu.Lock()
	q.lastProgress = now
	resumed := q.paused != nil || q.stalled != nil
	was := q.paused
	q.paused, q.stalled, q.rechecking = nil, nil, false
	q.mu.Unlock()
	if !resumed {
		return
	}
	if was != nil {
		q.log.Info("upload configuration works again; uploads resumed", "code", was.Code, "setting", was.Setting)
	} else {
		q.log.Info("upload backlog moving again")
	}
	if q.o.OnResume != nil {
		q.o.OnResume()
	}
}

// backoff returns a jittered exponential delay for the n-th failure: a
// random duration in [d/2, d] where d = min·2^(n-1), capped at max.
func backoff(n int, minD, maxD time.Duration, r *rand.Rand) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	if d > maxD {
		d = maxD
	}
	half := d / 2
	return half + time.Duration(r.Int64N(int64(half)+1))
}

func (q *Queue) fail(it *qitem, f Fault) {
	now := q.o.Clock.Now()
	f.ItemID = it.st.Rec.ID
	f.Time = now
	if f.EntryID == "" {
		f.EntryID = it.st.EntryID
	}
	st := it.st.clone()
	st.FailedIn, st.State, st.Fault = st.State, StateFailed, &f
	st.UpdatedAt = now
	if err := q.write(st); err != nil {
		q.log.Error("persisting failed state", "item", st.Rec.ID, "err", err)
	}
	q.mu.Lock()
	it.st = st
	q.mu.Unlock()
	q.emit(f)
}

// Retry resumes a failed item from the step where it stopped, uploads a
// kept_local one, or, with id "", lifts a queue-wide stop (after the
// configuration was fixed) and ends the current backoff.
func (q *Queue) Retry(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.poke()
	if id == "" {
		q.paused = nil
		q.backoff = time.Time{}
		q.failures = 0
		return nil
	}
	it, ok := q.items[id]
	if !ok {
		return fmt.Errorf("upload: no recording %q in the queue", id)
	}
	if !q.pendingLocked() {
		q.lastProgress = q.o.Clock.Now()
	}
	st := it.st.clone()
	switch st.State {
	case StateFailed:
		st.State, st.FailedIn, st.Fault = st.FailedIn, "", nil
		if st.State == "" {
			st.State = StateQueued
		}
	case StateKeptLocal:
		st.State = StateQueued
	default:
		it.rt.notBefore = time.Time{}
		q.paused = nil
		q.backoff = time.Time{}
		return nil
	}
	st.UpdatedAt = q.o.Clock.Now()
	if err := q.write(st); err != nil {
		return fmt.Errorf("upload: retry %s: %w", id, err)
	}
	it.st = st
	it.rt = runtime{firstSeen: it.rt.firstSeen}
	q.paused = nil
	return nil
}

// Deletable reports whether the local file of recording id may be deleted:
// once its entry is READY in Kaltura, or, for a recording delivered but not
// verified, once a technician acknowledged it or UnverifiedRetention has
// passed since.
func (q *Queue) Deletable(id string) bool {
	now := q.o.Clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[id]
	return ok && q.deletable(it.st, now)
}

func (q *Queue) deletable(st itemState, now time.Time) bool {
	switch st.State {
	case StateReady:
		return true
	case StateUnverified:
		u := st.Unverified
		return u != nil && (!u.AckAt.IsZero() || !now.Before(u.At.Add(q.o.UnverifiedRetention)))
	}
	return false
}

// Unverified returns the recordings delivered but not verified that no one
// has acknowledged yet, oldest first: for the console and the status line.
func (q *Queue) Unverified() []ItemStatus {
	var out []ItemStatus
	for _, it := range q.Items() {
		if it.State == StateUnverified && it.Unverified != nil && it.Unverified.AckAt.IsZero() {
			out = append(out, it)
		}
	}
	return out
}

// Acknowledge records that a technician found (or accepted the loss of
// the link to) the entry of a recording delivered but not verified: it is
// no longer listed, and its local file becomes Deletable. Acknowledging
// twice is harmless; any other state is an error.
func (q *Queue) Acknowledge(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[id]
	if !ok {
		return fmt.Errorf("upload: no recording %q in the queue", id)
	}
	if it.st.State != StateUnverified || it.st.Unverified == nil {
		return fmt.Errorf("upload: %s is %s, not delivered_unverified: nothing to acknowledge", id, it.st.State)
	}
	if !it.st.Unverified.AckAt.IsZero() {
		return nil
	}
	st := it.st.clone()
	now := q.o.Clock.Now()
	st.Unverified.AckAt, st.UpdatedAt = now, now
	if err := q.write(st); err != nil {
		return fmt.Errorf("upload: acknowledge %s: %w", id, err)
	}
	it.st = st
	q.log.Info("unverified recording acknowledged", "item", id, "admin_tag", st.Unverified.AdminTag, "token", st.Unverified.TokenID)
	return nil
}

// Forget removes the state file of an item whose file was Deletable (after
// retention deleted the recording). Other items cannot be forgotten.
func (q *Queue) Forget(id string) error {
	now := q.o.Clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	it, ok := q.items[id]
	if !ok {
		return nil
	}
	if !q.deletable(it.st, now) {
		return fmt.Errorf("upload: %s is %s, not deletable: not forgotten", id, it.st.State)
	}
	if err := os.Remove(filepath.Join(q.dir, fileNameFor(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("upload: forget %s: %w", id, err)
	}
	delete(q.items, id)
	return syncDir(q.dir)
}

// Recheck makes a queue stopped by a configuration fault try again at once
// (the console's sync, a configuration change), and ends the current
// backoff. Unlike Retry(""), the fault stays until a call works.
func (q *Queue) Recheck() {
	q.mu.Lock()
	q.recheckAt = time.Time{}
	q.backoff = time.Time{}
	q.mu.Unlock()
	q.poke()
}

// Stalled returns the fault raised when the backlog stopped moving
// (UPLOAD_BACKLOG_STALLED), or nil.
func (q *Queue) Stalled() *Fault {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stalled == nil {
		return nil
	}
	f := *q.stalled
	return &f
}

// Paused returns the queue-wide fault that stopped uploads, or nil.
func (q *Queue) Paused() *Fault {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.paused == nil {
		return nil
	}
	f := *q.paused
	return &f
}

// Items returns every item, oldest first.
func (q *Queue) Items() []ItemStatus {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]ItemStatus, 0, len(q.items))
	for _, it := range q.items {
		st := it.st.clone()
		out = append(out, ItemStatus{ID: st.Rec.ID, Title: st.Rec.Title, Path: st.Rec.Path, State: st.State, Size: st.Size,
			Offset: st.Offset, TokenID: st.TokenID, EntryID: st.EntryID, Fault: st.Fault, Warnings: st.Warnings,
			LastError: it.rt.lastErr, Attempts: it.rt.attempts, NewTokens: len(st.OldTokens), Short: st.Short,
			EnqueuedAt: st.EnqueuedAt, UpdatedAt: st.UpdatedAt, EventID: st.Rec.EventID, AdminTag: AdminTag(st.Rec),
			Unverified: st.Unverified, seq: st.Seq})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}
