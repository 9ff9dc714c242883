// Package controller is the box's state machine: it decides, from the
// schedule, the button, the capture health, the clock's trust and the
// current time, which recordings must run, what the LED shows and what the
// display says (design.md §2). The decisions are pure functions of
// (State, inputs, now); Loop applies them to the devices.
//
// What should be recording at an instant, what is next and which event is
// the primary one are the schedule plan's answers (sync/plan: Active,
// Next, Find, Compare); the controller adds only what the box itself
// remembers (running recordings, early stops, parts) and never decides
// those questions again.
package controller

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/schedule"
)

// AdHocKey is the occurrence key of a button-started recording.
const AdHocKey = "adhoc"

// Policy holds the settings that shape decisions.
type Policy struct {
	PrePadding, PostPadding time.Duration // around scheduled recordings
	AdHocMax                time.Duration // an ad-hoc recording stops after this
	Ack                     time.Duration // length of the acknowledge blink (default 400ms)
	Warn                    time.Duration // slow blink this long before a start (default 1m)
	// KeepPartsSeparate uploads every part of an event (a crash, a power
	// cut, a button stop and resume) as an entry of its own. Otherwise
	// (the default) a scheduled recording's parts are collected and
	// joined into one entry when the event's recording ends: "one
	// lecture, one entry".
	KeepPartsSeparate bool
}

func (p Policy) ack() time.Duration {
	if p.Ack <= 0 {
		return 400 * time.Millisecond
	}
	return p.Ack
}

func (p Policy) warn() time.Duration {
	if p.Warn <= 0 {
		return time.Minute
	}
	return p.Warn
}

func (p Policy) adHocMax() time.Duration {
	if p.AdHocMax <= 0 {
		return 2 * time.Hour
	}
	return p.AdHocMax
}

// Rec is a recording that is running.
type Rec struct {
	ID      string              `json:"id"`
	Occ     schedule.Occurrence `json:"occ"` // for ad-hoc: Key AdHocKey, title and times set by the box
	Part    int                 `json:"part"`
	Started time.Time           `json:"started"`
}

// AdHoc reports whether r was started by the button.
func (r Rec) AdHoc() bool { return r.Occ.Key == AdHocKey }

// State is everything the controller remembers. It is persisted after every
// change so that a restart knows which events were stopped early and how many
// parts each event already has.
type State struct {
	Running map[string]Rec  `json:"running"` // by occurrence key (AdHocKey for ad-hoc)
	Stopped map[string]bool `json:"stopped"` // occurrence keys stopped early by a long press
	Parts   map[string]int  `json:"parts"`   // occurrence key → parts started so far
	AckTill time.Time       `json:"ack_till"`
	Seq     int             `json:"seq"` // ad-hoc recordings started, for unique ids
	// Pending are the stops and holds decided and not yet carried out
	// (Carry, Done): saved with the rest, so that a stop whose device step
	// failed, or that a crash interrupted, is retried after a restart and a
	// held recording is never uploaded by mistake.
	Pending []Action `json:"pending,omitempty"`
	// Lecture are the finished parts of scheduled events that wait for
	// their event's end to be joined into one recording (occurrence key →
	// recording ids, in the order recorded). They are never uploaded on
	// their own: the decision to join is saved here, with the rest, so a
	// crash between a part's end and the join still leads to one entry.
	Lecture map[string][]string `json:"lecture,omitempty"`
}

// NewState returns an empty state.
func NewState() State {
	return State{Running: map[string]Rec{}, Stopped: map[string]bool{}, Parts: map[string]int{}, Lecture: map[string][]string{}}
}

// Clone returns a deep copy, so decisions never alias their input.
func (s State) Clone() State {
	c := NewState()
	for k, v := range s.Running {
		c.Running[k] = v
	}
	for k, v := range s.Stopped {
		c.Stopped[k] = v
	}
	for k, v := range s.Parts {
		c.Parts[k] = v
	}
	for k, v := range s.Lecture {
		c.Lecture[k] = slices.Clone(v)
	}
	c.AckTill, c.Seq = s.AckTill, s.Seq
	c.Pending = make([]Action, len(s.Pending))
	for i, a := range s.Pending {
		a.Parts = slices.Clone(a.Parts)
		c.Pending[i] = a
	}
	if s.Pending == nil {
		c.Pending = nil
	}
	return c
}

// Waiting returns the recordings that must not be queued for upload by
// anyone but the controller: those running, those whose stop is pending,
// the parts collected for a join and the parts of a pending join.
func (s State) Waiting() map[string]bool {
	w := map[string]bool{}
	for _, r := range s.Running {
		w[r.ID] = true
	}
	for _, ids := range s.Lecture {
		for _, id := range ids {
			w[id] = true
		}
	}
	for _, a := range s.Pending {
		if a.Kind == Stop || a.Kind == Hold {
			w[a.Rec.ID] = true
		}
		for _, id := range a.Parts {
			w[id] = true
		}
	}
	return w
}

// Inputs are the facts a decision depends on besides the state.
type Inputs struct {
	Now     time.Time
	Trusted bool      // the clock is trustworthy
	Plan    plan.Plan // the schedule (the last good one)
	Faults  []Fault   // faults that need a person
}

// Fault is a condition that needs a person: no capture signal, disk full,
// clock not set, credentials refused, upload backlog stuck.
type Fault struct {
	Source string // "capture", "disk", "clock", "upload", "sync", ...
	Text   string // short words for the display and console
}

// ActionKind is what an Action asks of the recorder.
type ActionKind int

const (
	// Start a recording.
	Start ActionKind = iota + 1
	// Stop a recording and publish it to the upload queue.
	Stop
	// Hold: stop a recording and keep the file on the box, not uploaded
	// (its event was cancelled or removed while recording).
	Hold
	// Join the collected parts (Action.Parts) of an event whose recording
	// ended into one recording (Action.Rec.ID) and publish it.
	Join
)

func (k ActionKind) String() string {
	switch k {
	case Start:
		return "start"
	case Stop:
		return "stop"
	case Hold:
		return "hold"
	case Join:
		return "join"
	}
	return fmt.Sprintf("action(%d)", int(k))
}

// Action is one thing the loop must do.
type Action struct {
	Kind ActionKind `json:"kind"`
	Rec  Rec        `json:"rec"`
	Why  string     `json:"why"`
	// Collect (a Stop): the part is kept for its event's join, not
	// published on its own.
	Collect bool `json:"collect,omitempty"`
	// Parts (a Join): the recordings to join, in the order recorded.
	Parts []string `json:"parts,omitempty"`
}

// Disposition is what becomes of a finished recording's file.
type Disposition int

const (
	// Publish sends the recording to the upload queue.
	Publish Disposition = iota + 1
	// Keep holds the file on the box, not uploaded, for a technician.
	Keep
	// Collect keeps the file for the join at its event's end; it is not
	// uploaded on its own.
	Collect
)

// Disposition returns what a Stop or Hold does with the file.
func (a Action) Disposition() Disposition {
	switch {
	case a.Kind == Hold:
		return Keep
	case a.Collect:
		return Collect
	}
	return Publish
}

// stop is the Stop action of r: a scheduled recording's part is collected
// for the join unless parts are kept separate.
func (p Policy) stop(r Rec, why string) Action {
	return Action{Kind: Stop, Rec: r, Why: why, Collect: !p.KeepPartsSeparate && !r.AdHoc()}
}

// JoinedID names the recording joined from parts: derived from the first
// part, so a join retried after a crash writes the same recording.
func JoinedID(first string) string { return first + "-joined" }

// Carry is the transition before the loop carries out acts: the stops and
// holds among them become pending (they leave the state only when done),
// and the actions to carry out now are the pending ones from before (a
// failed stop is retried) followed by acts.
func Carry(s State, acts []Action) (State, []Action) {
	s = s.Clone()
	todo := append(slices.Clone(s.Pending), acts...)
	for _, a := range acts {
		if a.Kind != Start {
			s.Pending = append(s.Pending, a)
		}
	}
	return s, todo
}

// Done is the transition after the loop carried out a: a stop, hold or
// join leaves the pending list; a collected part joins its event's
// lecture in the same transition.
func Done(s State, a Action) State {
	if a.Kind == Start {
		return s
	}
	s = s.Clone()
	if i := slices.IndexFunc(s.Pending, func(p Action) bool { return p.Kind == a.Kind && p.Rec.ID == a.Rec.ID }); i >= 0 {
		s.Pending = slices.Delete(s.Pending, i, i+1)
	}
	if a.Kind == Stop && a.Collect {
		key := a.Rec.Occ.Key
		if !slices.Contains(s.Lecture[key], a.Rec.ID) {
			s.Lecture[key] = append(s.Lecture[key], a.Rec.ID)
		}
	}
	return s
}

// Recovered is the transition at a start after a crash or power cut:
// the recordings that were running are not any more (their files were
// recovered). A scheduled one's part is collected for its event's join,
// as if it had been stopped, unless parts are kept separate (then it is
// published by the recovery, like any closed recording). The next
// Reconcile starts a further part if the event is still on.
func (p Policy) Recovered(s State) (State, []Rec) {
	s = s.Clone()
	var out []Rec
	for k, r := range s.Running {
		out = append(out, r)
		delete(s.Running, k)
	}
	slices.SortFunc(out, func(a, b Rec) int { return a.Started.Compare(b.Started) })
	for _, r := range out {
		if a := p.stop(r, "recovered"); a.Collect {
			s = Done(s, a)
		}
	}
	return s, out
}

// Failed is the transition after a's device step failed. A failed start
// is undone: the recording is not running and its part number is given
// back, so the next decision starts it again as the same part. A failed
// stop or hold stays pending and is retried.
func Failed(s State, a Action) State {
	if a.Kind != Start {
		return s
	}
	s = s.Clone()
	key := a.Rec.Occ.Key
	if r, ok := s.Running[key]; ok && r.ID == a.Rec.ID {
		delete(s.Running, key)
		if s.Parts[key] > 0 {
			s.Parts[key]--
		}
		if s.Parts[key] == 0 {
			delete(s.Parts, key)
		}
	}
	return s
}

// RecordingID names a recording: unique across parts and restarts, safe as a
// file name.
func RecordingID(key string, part int, start time.Time) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, key)
	return fmt.Sprintf("%s-p%d-%s", safe, part, start.UTC().Format("20060102T150405Z"))
}

// Reconcile is the scheduled-recording decision: which recordings to start
// and stop at in.Now. It returns the new state and the actions, in order
// (stops before starts). Without a trusted clock no scheduled recording
// starts or stops; ad-hoc recordings still stop at their maximum length.
func (p Policy) Reconcile(s State, in Inputs) (State, []Action) {
	s = s.Clone()
	var acts []Action
	now := in.Now

	keys := make([]string, 0, len(s.Running))
	for k := range s.Running {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := s.Running[k]
		if r.AdHoc() {
			if !now.Before(r.Started.Add(p.adHocMax())) {
				delete(s.Running, k)
				acts = append(acts, p.stop(r, "ad-hoc maximum length reached"))
			}
			continue
		}
		if !in.Trusted {
			continue
		}
		e, ok := in.Plan.Find(r.Occ)
		o := e.Occurrence
		switch {
		case !ok:
			delete(s.Running, k)
			acts = append(acts, Action{Kind: Hold, Rec: r, Why: "event removed from the schedule"})
		case !e.Record:
			// Cancelled, no longer a recording, or under a blackout.
			delete(s.Running, k)
			r.Occ = o
			acts = append(acts, Action{Kind: Hold, Rec: r, Why: "event " + e.Why})
		case !plan.InWindow(o, now, p.PrePadding, p.PostPadding):
			delete(s.Running, k)
			acts = append(acts, p.stop(r, "event ended"))
		default:
			// Follow the event (its end may have moved, its key may have
			// changed); the recording keeps its id.
			snapshot := r.Occ
			r.Occ = o
			r.Occ.TemplateEntryID = firstNonEmpty(snapshot.TemplateEntryID, o.TemplateEntryID)
			if o.Key != k {
				delete(s.Running, k)
				if n, ok := s.Parts[k]; ok {
					s.Parts[o.Key] = max(s.Parts[o.Key], n)
				}
				if ids, ok := s.Lecture[k]; ok {
					s.Lecture[o.Key] = append(s.Lecture[o.Key], ids...)
					delete(s.Lecture, k)
				}
			}
			s.Running[o.Key] = r
		}
	}

	// Forget early stops and part counts of events that are over (only with
	// a trusted clock: "over" means nothing without one).
	if in.Trusted {
		for k := range s.Stopped {
			if !in.Plan.Within(k, now, p.PrePadding, p.PostPadding) {
				delete(s.Stopped, k)
			}
		}
		for k := range s.Parts {
			if _, running := s.Running[k]; !running && !in.Plan.Within(k, now, p.PrePadding, p.PostPadding) {
				delete(s.Parts, k)
			}
		}
	}

	// An event whose recording ended (over, removed or no longer
	// recorded) with collected parts, none running or being stopped: its
	// parts are joined into one recording. The collected ids move into the
	// pending join in the same transition.
	if in.Trusted {
		lkeys := make([]string, 0, len(s.Lecture))
		for k := range s.Lecture {
			lkeys = append(lkeys, k)
		}
		sort.Strings(lkeys)
		for _, k := range lkeys {
			ids := s.Lecture[k]
			if _, running := s.Running[k]; running || stopping(s.Pending, k) || stopping(acts, k) || in.Plan.Within(k, now, p.PrePadding, p.PostPadding) {
				continue
			}
			delete(s.Lecture, k)
			if len(ids) == 0 {
				continue
			}
			occ := schedule.Occurrence{Key: k}
			if e, ok := in.Plan.Find(occ); ok {
				occ = e.Occurrence
			}
			acts = append(acts, Action{Kind: Join, Rec: Rec{ID: JoinedID(ids[0]), Occ: occ}, Why: "event's recording ended", Parts: slices.Clone(ids)})
		}
	}

	if in.Trusted {
		for _, o := range in.Plan.Active(now, p.PrePadding, p.PostPadding) {
			if _, running := s.Running[o.Key]; running || s.Stopped[o.Key] {
				continue
			}
			s.Parts[o.Key]++
			r := Rec{ID: RecordingID(o.Key, s.Parts[o.Key], now), Occ: o, Part: s.Parts[o.Key], Started: now}
			s.Running[o.Key] = r
			why := "scheduled start"
			if now.After(o.Start) {
				why = "event in progress"
			}
			acts = append(acts, Action{Kind: Start, Rec: r, Why: why})
		}
	}
	return s, acts
}

// stopping reports whether acts stop a recording of the event with key.
func stopping(acts []Action, key string) bool {
	return slices.ContainsFunc(acts, func(a Action) bool { return a.Kind == Stop && a.Rec.Occ.Key == key })
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// scheduledRunning returns the running scheduled recordings in the plan's
// order for choosing one event (plan.Compare): the first is the primary.
func scheduledRunning(s State) []Rec {
	var occs []schedule.Occurrence
	for _, r := range s.Running {
		if !r.AdHoc() {
			occs = append(occs, r.Occ)
		}
	}
	slices.SortStableFunc(occs, plan.Compare)
	out := make([]Rec, len(occs))
	for i, o := range occs {
		out[i] = s.Running[o.Key]
	}
	return out
}

// Button applies one button gesture (design.md §2):
//   - short press during an ad-hoc recording stops it;
//   - short press during a scheduled recording only acknowledges (a blink);
//   - short press while an event stopped early is still on resumes it as a further part;
//   - short press when idle starts an ad-hoc recording;
//   - a long press stops the primary scheduled recording early (or the ad-hoc one).
//
// Title names the room for ad-hoc recordings.
func (p Policy) Button(s State, in Inputs, kind hal.ButtonKind, room string) (State, []Action) {
	s = s.Clone()
	now := in.Now
	sched := scheduledRunning(s)
	adhoc, adhocOn := s.Running[AdHocKey]
	switch kind {
	case hal.Press:
		if adhocOn {
			delete(s.Running, AdHocKey)
			return s, []Action{p.stop(adhoc, "button: ad-hoc stop")}
		}
		if len(sched) > 0 {
			s.AckTill = now.Add(p.ack())
			return s, nil
		}
		for _, o := range in.Plan.Active(now, p.PrePadding, p.PostPadding) {
			if s.Stopped[o.Key] {
				delete(s.Stopped, o.Key)
				if !in.Trusted {
					return s, nil
				}
				s.Parts[o.Key]++
				r := Rec{ID: RecordingID(o.Key, s.Parts[o.Key], now), Occ: o, Part: s.Parts[o.Key], Started: now}
				s.Running[o.Key] = r
				return s, []Action{{Kind: Start, Rec: r, Why: "button: resume"}}
			}
		}
		s.Seq++
		occ := schedule.Occurrence{
			Key:    AdHocKey,
			Type:   schedule.TypeRecord,
			Status: schedule.StatusActive,
			Title:  room,
			Start:  now,
			End:    now.Add(p.adHocMax()),
		}
		r := Rec{ID: RecordingID(fmt.Sprintf("adhoc%d", s.Seq), 1, now), Occ: occ, Part: 1, Started: now}
		s.Running[AdHocKey] = r
		return s, []Action{{Kind: Start, Rec: r, Why: "button: ad-hoc start"}}
	case hal.LongPress:
		if len(sched) > 0 {
			r := sched[0]
			delete(s.Running, r.Occ.Key)
			s.Stopped[r.Occ.Key] = true
			return s, []Action{p.stop(r, "button: stopped early")}
		}
		if adhocOn {
			delete(s.Running, AdHocKey)
			return s, []Action{p.stop(adhoc, "button: ad-hoc stop")}
		}
	}
	return s, nil
}

// LED returns the pattern the LED shows (design.md §2): fast blink for a
// fault, a short blink off to acknowledge a press, on while recording, slow
// blink in the minute before a scheduled start, otherwise off.
func (p Policy) LED(s State, in Inputs) hal.Pattern {
	now := in.Now
	switch {
	case len(in.Faults) > 0:
		return hal.FastBlink
	case now.Before(s.AckTill):
		return hal.Off
	case len(s.Running) > 0:
		return hal.On
	}
	if in.Trusted {
		// The soonest recording whose padded start is still ahead.
		if o, ok := in.Plan.Next(now.Add(p.PrePadding)); ok && !now.Before(o.Start.Add(-p.PrePadding-p.warn())) {
			return hal.SlowBlink
		}
	}
	return hal.Off
}

// Wake returns the next instant after now at which a decision may change
// with no new input: a start (or its warning minute), an end, the end of an
// acknowledge blink or an ad-hoc maximum. The zero time means never.
func (p Policy) Wake(s State, in Inputs) time.Time {
	now := in.Now
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range in.Plan.Entries {
		if !e.Record {
			continue
		}
		o := e.Occurrence
		start := o.Start.Add(-p.PrePadding)
		consider(start.Add(-p.warn()))
		consider(start)
		consider(o.End.Add(p.PostPadding))
	}
	for _, r := range s.Running {
		if r.AdHoc() {
			consider(r.Started.Add(p.adHocMax()))
		}
	}
	consider(s.AckTill)
	return next
}

// Screen returns the display's lines: the state and elapsed time, then the
// current or next event, or the fault in words.
func (p Policy) Screen(s State, in Inputs, loc *time.Location) []string {
	now := in.Now
	if loc == nil {
		loc = time.UTC
	}
	var first, second string
	running := scheduledRunning(s)
	if r, ok := s.Running[AdHocKey]; ok {
		running = append(running, r)
	}
	switch {
	case len(running) > 0:
		r := running[0]
		first = "REC " + clock(now.Sub(r.Started))
		if len(running) > 1 {
			first += fmt.Sprintf(" +%d", len(running)-1)
		}
		second = r.Occ.Title
	case !in.Trusted:
		first = "WAIT CLOCK"
	default:
		first = "IDLE " + now.In(loc).Format("15:04")
		if o, ok := in.Plan.Next(now); ok {
			second = "Next " + o.Start.In(loc).Format("15:04") + " " + o.Title
		}
	}
	if len(in.Faults) > 0 {
		second = "! " + in.Faults[0].Text
	}
	return []string{first, second}
}

func clock(d time.Duration) string {
	d = d.Truncate(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}
