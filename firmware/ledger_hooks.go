package firmware

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/capturebox/capturebox/capture"
	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/firmware/ledger"
	"github.com/capturebox/capturebox/firmware/supervisor"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/sync/syncer"
	"github.com/capturebox/capturebox/upload"
)

// ledgerTick is how often the ledger looks at the schedule, the start
// times and the upload queue.
const ledgerTick = 30 * time.Second

// startGrace is how long after an event's padded start the ledger looks
// whether its recording started, and says why not.
const startGrace = time.Minute

// boxLedger writes what the box does to the event ledger. It remembers,
// bounded by the ledger's own size, what it already wrote (the last
// schedule status of each occurrence, which starts were checked, which
// upload tokens and entries were seen), so a step is written once.
type boxLedger struct {
	b *box
	l *ledger.Ledger
	// lead is how long before a start the pre-flight runs
	// (recording.preflight; 0: off).
	lead time.Duration
	// maxAge is sync.max_age; since is when the box started.
	maxAge time.Duration
	since  time.Time

	mu      sync.Mutex
	snap    *syncer.Snapshot
	status  map[string]string               // occurrence key → last schedule status written
	occ     map[string]plan.Entry           // occurrence key → last entry seen
	started map[string]bool                 // occurrence keys whose recording opened
	checked map[string]bool                 // occurrence keys whose start was looked at
	steps   map[string]map[ledger.Step]bool // recording id → steps written
	// preflights: occurrence key → the checks the last pre-flight found
	// failing ("": passed).
	preflights map[string]string
	failed     map[string]string // see changed
}

// openLedger opens the ledger in the data folder. A ledger that cannot be
// opened (a failing disk) is logged and the box runs without it.
func (b *box) openLedger() {
	l, err := ledger.Open(b.path("ledger"), ledger.Options{MaxBytes: int64(b.cfg.Box.LedgerMaxSize), Logger: b.log})
	if err != nil {
		b.log.Error("event ledger cannot be opened; the box runs without it", "err", err)
		return
	}
	bl := &boxLedger{b: b, l: l, lead: b.cfg.Recording.Preflight, maxAge: b.cfg.Sync.MaxAge, since: time.Now(), status: map[string]string{}, occ: map[string]plan.Entry{}, started: map[string]bool{},
		checked: map[string]bool{}, steps: map[string]map[ledger.Step]bool{}, preflights: map[string]string{}}
	recs, err := l.All()
	if err != nil {
		b.log.Warn("event ledger: reading it back", "err", err)
	}
	for _, r := range recs {
		bl.remember(r)
	}
	b.ledger = bl
}

func (bl *boxLedger) remember(r ledger.Record) {
	switch r.Step {
	case ledger.StepSeen:
		bl.status[r.Event] = string(r.Reason)
	case ledger.StepOpened:
		if r.Reason == "" {
			bl.started[r.Event] = true
		}
		bl.checked[r.Event] = true
	case ledger.StepClock:
		bl.checked[r.Event] = true
	}
	if r.Rec != "" {
		m := bl.steps[r.Rec]
		if m == nil {
			m = map[ledger.Step]bool{}
			bl.steps[r.Rec] = m
		}
		m[r.Step] = true
	}
}

// add writes r; the ledger never stops the box.
func (bl *boxLedger) add(r ledger.Record) {
	if bl == nil {
		return
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if err := bl.l.Add(r); err != nil {
		bl.b.log.Warn("event ledger: cannot write", "step", r.Step, "err", err)
		return
	}
	bl.mu.Lock()
	bl.remember(r)
	bl.mu.Unlock()
	bl.b.metrics.note(r)
}

// healthSubsystems are the ledger's and the metrics server's subsystems,
// when they are on.
func (b *box) healthSubsystems() []supervisor.Subsystem {
	var subs []supervisor.Subsystem
	if b.ledger != nil {
		subs = append(subs, supervisor.Subsystem{Name: "ledger", Run: b.ledger.run})
	}
	if b.cfg.Box.MetricsAddress != "" {
		subs = append(subs, supervisor.Subsystem{Name: "metrics", Run: b.metrics.serve})
	}
	return subs
}

// changed reports whether v differs from what was last noted under key,
// and notes it (failure reasons of retried steps; bounded: a key is
// dropped when its event is forgotten or after failedMax keys).
func (bl *boxLedger) changed(key, v string) bool {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.failed == nil || len(bl.failed) > failedMax {
		bl.failed = map[string]string{}
	}
	if old, ok := bl.failed[key]; ok && old == v {
		return false
	}
	bl.failed[key] = v
	return true
}

// failedMax bounds the failure reasons remembered for changed.
const failedMax = 1000

func (bl *boxLedger) once(rec string, step ledger.Step) bool {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	return !bl.steps[rec][step]
}

func occRecord(o schedule.Occurrence, step ledger.Step) ledger.Record {
	return ledger.Record{Event: o.Key, Ref: o.ReferenceID(), Title: o.Title, Start: o.Start, End: o.End, Step: step}
}

func recRecord(r controller.Rec, step ledger.Step) ledger.Record {
	rec := occRecord(r.Occ, step)
	if r.AdHoc() {
		rec.Event, rec.Ref = "", 0
		rec.Start, rec.End = r.Started, time.Time{}
	}
	rec.Rec = r.ID
	return rec
}

// scheduleReason is the reason code of a plan entry that is not recorded,
// from the plan's own words (the plan alone decides what is recorded).
func scheduleReason(e plan.Entry) ledger.Reason {
	switch {
	case e.Record:
		return ""
	case strings.Contains(e.Why, "cancel"):
		return ledger.Cancelled
	case strings.Contains(e.Why, "blackout"):
		return ledger.BlackedOut
	}
	return ledger.NotARecording
}

// noteSchedule writes what a new schedule changed: each occurrence seen
// for the first time, cancelled, blacked out, or gone from the schedule.
func (bl *boxLedger) noteSchedule(now time.Time) {
	s := bl.b.syncer.Current()
	bl.mu.Lock()
	if s == nil || s == bl.snap {
		bl.mu.Unlock()
		return
	}
	bl.snap = s
	var out []ledger.Record
	at := s.FetchedAt
	if at.IsZero() {
		at = now
	}
	seen := map[string]bool{}
	for _, e := range s.Plan.Entries {
		seen[e.Key] = true
		why := scheduleReason(e)
		if e.Why == "blackout" {
			continue // a blackout itself is not an event to record
		}
		if old, ok := bl.status[e.Key]; ok && old == string(why) {
			bl.occ[e.Key] = e
			continue
		}
		if why == ledger.NotARecording {
			if _, ok := bl.status[e.Key]; !ok {
				bl.status[e.Key] = string(why) // other types are not the ledger's business
				continue
			}
		}
		r := occRecord(e.Occurrence, ledger.StepSeen)
		r.Time, r.Reason, r.Detail = at, why, e.Why
		if why == "" {
			r.Detail = ""
		}
		out = append(out, r)
		bl.occ[e.Key] = e
	}
	for k, e := range bl.occ {
		if seen[k] {
			continue
		}
		if e.End.After(now) && !e.Start.Before(s.Plan.From) && e.Start.Before(s.Plan.To) && bl.status[k] == "" {
			r := occRecord(e.Occurrence, ledger.StepSeen)
			r.Time, r.Reason = at, ledger.NotInSchedule
			out = append(out, r)
		}
		if !e.End.After(now) || bl.status[k] != "" {
			delete(bl.occ, k) // over, or written gone: forget it
		}
	}
	// Forget what is long over: the ledger on disk keeps it.
	for k, e := range bl.occ {
		if e.End.Before(now.Add(-7 * 24 * time.Hour)) {
			delete(bl.occ, k)
			delete(bl.status, k)
			delete(bl.started, k)
			delete(bl.checked, k)
			delete(bl.preflights, k)
		}
	}
	bl.mu.Unlock()
	for _, r := range out {
		bl.add(r)
	}
}

// checkStarts says, a minute after each recordable event's padded start,
// why its recording did not start, when it did not.
func (bl *boxLedger) checkStarts(now time.Time) {
	s := bl.b.syncer.Current()
	if s == nil {
		return
	}
	pre, post := bl.b.cfg.Recording.PrePadding, bl.b.cfg.Recording.PostPadding
	var out []ledger.Record
	bl.mu.Lock()
	for _, e := range s.Plan.Entries {
		if !e.Record || bl.checked[e.Key] || bl.started[e.Key] {
			continue
		}
		start := e.Start.Add(-pre)
		if now.Before(start.Add(startGrace)) || !now.Before(e.End.Add(post)) {
			continue
		}
		bl.checked[e.Key] = true
		r := occRecord(e.Occurrence, ledger.StepOpened)
		r.Time = now
		switch {
		case !bl.b.trust.Trusted():
			r.Step, r.Reason, r.Detail = ledger.StepClock, ledger.ClockUntrusted, bl.b.trust.why()
		default:
			r.Reason, r.Detail = bl.faultReason()
			if r.Reason == "" {
				r.Reason = ledger.StartFailed
			}
		}
		out = append(out, r)
	}
	bl.mu.Unlock()
	for _, r := range out {
		bl.add(r)
	}
}

// faultReason is the reason code of the box's current faults.
func (bl *boxLedger) faultReason() (ledger.Reason, string) {
	for _, f := range bl.b.faults.list() {
		switch {
		case f.Text == "DISK FULL":
			return ledger.DiskFull, f.Text
		case strings.HasPrefix(f.Text, "DISK"):
			return ledger.DiskError, f.Text
		case f.Source == "capture":
			return ledger.NoSignal, f.Text
		}
	}
	return "", ""
}

// noteQueue writes the upload token and the entry of each item once.
func (bl *boxLedger) noteQueue(now time.Time) {
	// A queue stopped by a configuration fault (credentials refused) says
	// it once: an item queued later is written against it here.
	paused := bl.b.queue.Paused()
	items := bl.b.queue.Items()
	for _, it := range items {
		if paused != nil && it.State != upload.StateReady && bl.once(it.ID, ledger.StepUpload) {
			reason, step, detail := uploadReason(*paused)
			bl.add(ledger.Record{Time: now, Rec: it.ID, Step: step, Reason: reason, Detail: detail})
		}
		if it.TokenID != "" && bl.once(it.ID, ledger.StepToken) {
			bl.add(ledger.Record{Time: now, Rec: it.ID, Step: ledger.StepToken, Detail: "token " + it.TokenID})
		}
		if it.EntryID != "" && bl.once(it.ID, ledger.StepEntry) {
			bl.add(ledger.Record{Time: now, Rec: it.ID, Step: ledger.StepEntry, Detail: "entry " + it.EntryID})
		}
	}
	bl.mu.Lock()
	for id := range bl.steps {
		// An item the queue forgot (its file deleted after READY) is
		// forgotten here too: the ledger on disk keeps its steps.
		if !slices.ContainsFunc(items, func(it upload.ItemStatus) bool { return it.ID == id }) {
			delete(bl.steps, id)
		}
	}
	bl.mu.Unlock()
}

// run is the ledger's subsystem: it looks every ledgerTick.
func (bl *boxLedger) run(ctx context.Context) error {
	t := time.NewTicker(ledgerTick)
	defer t.Stop()
	for {
		now := time.Now()
		bl.noteSchedule(now)
		bl.scheduleAge(now)
		bl.preflight(ctx, now)
		bl.checkStarts(now)
		bl.noteQueue(now)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ledgerRecorder writes each start and finish the controller asks of the
// recorder, with its outcome.
type ledgerRecorder struct {
	inner controller.Recorder
	b     *box
}

func (r ledgerRecorder) Start(ctx context.Context, rec controller.Rec) error {
	err := r.inner.Start(ctx, rec)
	bl := r.b.ledger
	if bl == nil {
		return err
	}
	now := time.Now()
	if err != nil {
		// The controller retries a failed start: each reason is written
		// once per event, not at every retry.
		x := recRecord(rec, ledger.StepOpened)
		x.Time, x.Reason, x.Detail = now, startReason(err), err.Error()
		if bl.changed("start "+rec.Occ.Key, string(x.Reason)) {
			bl.add(x)
		}
		return err
	}
	if !rec.AdHoc() {
		c := recRecord(rec, ledger.StepClock)
		c.Time = now
		bl.add(c)
	}
	x := recRecord(rec, ledger.StepOpened)
	x.Time, x.Detail = now, "part "+strconv.Itoa(rec.Part)
	if rec.AdHoc() {
		x.Title = rec.Occ.Title + " (started with the button)"
	}
	bl.add(x)
	return nil
}

func startReason(err error) ledger.Reason {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return ledger.DiskFull
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO):
		return ledger.DiskError
	case errors.Is(err, hal.ErrNoSignal):
		return ledger.NoSignal
	}
	return ledger.StartFailed
}

func (r ledgerRecorder) Finish(ctx context.Context, rec controller.Rec, d controller.Disposition, why string) error {
	err := r.inner.Finish(ctx, rec, d, why)
	bl := r.b.ledger
	if bl == nil {
		return err
	}
	now := time.Now()
	if err != nil {
		// A failed stop stays pending and is retried: written once per
		// recording and reason.
		x := recRecord(rec, ledger.StepClosed)
		x.Time, x.Reason, x.Detail = now, startReason(err), err.Error()
		if x.Reason == ledger.StartFailed {
			x.Reason = ledger.FinishFailed
		}
		if bl.changed("finish "+rec.ID, string(x.Reason)) {
			bl.add(x)
		}
		return err
	}
	sc, serr := capture.ReadSidecar(r.b.recDir, rec.ID)
	if serr == nil && sc.State == capture.StateEmpty || errors.Is(serr, capture.ErrNoMedia) {
		x := recRecord(rec, ledger.StepFirstFrame)
		x.Time, x.Reason, x.Detail = now, ledger.NoSignal, "nothing was recorded"
		bl.add(x)
		return nil
	}
	if serr == nil && !sc.MediaStart.IsZero() && bl.once(rec.ID, ledger.StepFirstFrame) {
		x := recRecord(rec, ledger.StepFirstFrame)
		x.Time = sc.MediaStart
		bl.add(x)
	}
	x := recRecord(rec, ledger.StepClosed)
	x.Time = now
	if serr == nil && sc.Duration > 0 {
		x.Detail = clock(sc.Duration) + " recorded"
	}
	if strings.HasPrefix(why, "button: stopped early") {
		x.Reason = ledger.StoppedEarly // closed and saved, before the event's end
	}
	bl.add(x)
	switch d {
	case controller.Keep:
		h := recRecord(rec, ledger.StepHeld)
		h.Time, h.Reason, h.Detail = now, holdReason(why), why
		bl.add(h)
	case controller.Collect:
		c := recRecord(rec, ledger.StepCollected)
		c.Time = now
		bl.add(c)
	default:
		q := recRecord(rec, ledger.StepQueued)
		q.Time = now
		bl.add(q)
	}
	return nil
}

// Join joins an event's parts and writes the join and the queueing (with
// the gaps, from the joined recording's sidecar) to the ledger.
func (r ledgerRecorder) Join(ctx context.Context, rec controller.Rec, parts []string) error {
	err := r.inner.Join(ctx, rec, parts)
	bl := r.b.ledger
	if bl == nil {
		return err
	}
	now := time.Now()
	if err != nil {
		x := recRecord(rec, ledger.StepJoined)
		x.Time, x.Reason, x.Detail = now, startReason(err), err.Error()
		if x.Reason == ledger.StartFailed {
			x.Reason = ledger.FinishFailed
		}
		if bl.changed("join "+rec.ID, string(x.Reason)) {
			bl.add(x)
		}
		return err
	}
	j := recRecord(rec, ledger.StepJoined)
	j.Time, j.Detail = now, strconv.Itoa(len(parts))+" parts"
	if sc, serr := capture.ReadSidecar(r.b.recDir, rec.ID); serr == nil && len(sc.Meta.Gaps) > 0 {
		j.Detail += ", " + strconv.Itoa(len(sc.Meta.Gaps)) + " gaps"
	}
	bl.add(j)
	q := recRecord(rec, ledger.StepQueued)
	q.Time = now
	bl.add(q)
	return nil
}

func holdReason(why string) ledger.Reason {
	switch {
	case strings.Contains(why, "removed"):
		return ledger.NotInSchedule
	case strings.Contains(why, "cancel"):
		return ledger.Cancelled
	case strings.Contains(why, "blackout"):
		return ledger.BlackedOut
	}
	return ledger.NotARecording
}

// ledgerRecovered writes that a recording was cut by a crash or a power
// loss and its file recovered.
func (b *box) ledgerRecovered(r controller.Rec) {
	x := recRecord(r, ledger.StepClosed)
	x.Reason, x.Detail = ledger.Crashed, "recording "+r.ID+"; a further part follows if the event is still on"
	b.ledger.add(x)
}

// ledgerUploadFault writes an upload fault against the recordings it stops:
// one item, or every item not yet READY for a fault of the whole queue.
func (b *box) ledgerUploadFault(f upload.Fault) {
	bl := b.ledger
	if bl == nil {
		return
	}
	reason, step, detail := uploadReason(f)
	ids := []string{f.ItemID}
	if f.ItemID == "" {
		ids = nil
		for _, it := range b.queue.Items() {
			if it.State != upload.StateReady {
				ids = append(ids, it.ID)
			}
		}
	}
	for _, id := range ids {
		bl.add(ledger.Record{Rec: id, Step: step, Reason: reason, Detail: detail})
	}
}

// uploadReason is the ledger's step and reason code of an upload fault.
func uploadReason(f upload.Fault) (ledger.Reason, ledger.Step, string) {
	reason, step := ledger.UploadFault, ledger.StepUpload
	switch {
	case f.Code == "NO_CATEGORIES":
		step, reason = ledger.StepCategories, ledger.NoCategories
	case f.Code == "DELIVERED_NOT_VERIFIED":
		step, reason = ledger.StepUnverified, ""
	case strings.HasPrefix(f.Setting, "kaltura.app_token"):
		reason = ledger.CredentialsRefused
	}
	detail := f.Code
	if f.Setting != "" {
		detail += ", check " + f.Setting
	}
	return reason, step, strings.TrimPrefix(detail, ", ")
}

// ledgerReady writes that a recording's entry is READY.
func (b *box) ledgerReady(id, entryID string) {
	b.metrics.ready(id)
	if b.ledger == nil || !b.ledger.once(id, ledger.StepReady) {
		return
	}
	b.ledger.add(ledger.Record{Rec: id, Step: ledger.StepReady, Detail: "entry " + entryID})
}
