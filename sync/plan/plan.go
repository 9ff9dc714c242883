// Package plan decides, from the events of a synced calendar, what this
// box records in a time window, and answers the controller's questions
// about it (what should be recording now, what is next, which event the
// display and button act on). Everything here is a pure function of the
// events, the box's resource id and the instant asked about.
//
// The rules (design.md §2 "Schedule", kaltura.md §8):
//
//   - Only events on this box's resource count: X-KALTURA-RESOURCE-IDS is
//     checked here although the server filters too, because a
//     CAPTURE_DEVICE session sees every event of the partner. An
//     occurrence without resources inherits its series' (recur.Expand).
//     An event with no resource at all is not this box's.
//   - Only X-KALTURA-TYPE 1 (recording) with status ACTIVE is recorded.
//     Cancelled events and other types are kept in the plan, shown, never
//     recorded.
//   - A blackout (type 3, active, on this resource) suppresses every
//     recording that overlaps its window by any positive amount: the
//     WHOLE occurrence is not recorded, it is not trimmed. Kaltura itself
//     reports such an event as a blackout conflict as a whole
//     (getConflicts, conflict type 2), and a trimmed recording would be
//     uploaded with the event's template as if it were the full lecture.
//     Nothing is recorded inside a blackout either way. A blackout with no
//     resource is listed in Problems and not applied: it is not "on this
//     resource".
//   - Overlapping recordings are all recorded, each from its own start to
//     its own end (one capture, several files). Each recording's entry
//     says how many recordings overlap it and names the few that rank
//     before it (Entry.Overlap): bounded, whatever the input, where a list
//     of every overlapping pair grows with the square of the events.
//     Nothing is dropped.
//   - Where one event must be chosen (Primary), the order is PRIORITY,
//     then earliest start, then lowest id (Compare, the only home of that
//     rule). PRIORITY has its RFC 5545 meaning, which is what the iCal
//     property Kaltura writes carries: 1 is the highest, 9 the lowest, and
//     0 (undefined; Kaltura omits it) ranks after 9.
//
// This package is the one home of "what to record now and next": the
// controller asks Active, Next, Primary and Find, and never decides that
// itself (firmware/fences_test.go checks it).
package plan

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/capturebox/capturebox/sync/recur"
	"github.com/capturebox/capturebox/sync/schedule"
)

// Entry is one occurrence on this box's resource and the decision about it.
type Entry struct {
	schedule.Occurrence
	// Record reports whether the box records it.
	Record bool
	// Why says why it is not recorded ("" when Record is true).
	Why string
	// Overlap is what the plan keeps about the recordings that overlap
	// this one (zero unless Record).
	Overlap Overlap
}

// Problem is something in the events the plan could not use.
type Problem struct {
	EventID int64
	Reason  string
}

// Plan is the schedule of one box over a window.
type Plan struct {
	ResourceID int64
	From, To   time.Time
	// Entries are sorted by start, then rank (see Compare).
	Entries []Entry
	// Conflicted counts the recordings that overlap at least one other.
	Conflicted int
	Problems   []Problem
}

// Options tune BuildWith.
type Options struct {
	Expand recur.Options
	// Room is the LOCATION resource the box's camera stands in (0: none):
	// events booked on it are the box's too (BoxResources).
	Room int64
}

// Build plans events for the resource over [from, to). A resourceID of 0
// or less keeps the events of every resource (for tools).
func Build(events []schedule.Event, resourceID int64, from, to time.Time) Plan {
	return BuildWith(events, resourceID, from, to, Options{})
}

// BuildWith is Build with options.
func BuildWith(events []schedule.Event, resourceID int64, from, to time.Time, opts Options) Plan {
	res := recur.Expand(events, from, to, opts.Expand)
	p := Plan{ResourceID: resourceID, From: from.UTC(), To: to.UTC(), Entries: make([]Entry, 0, len(res.Occurrences))}
	for _, s := range res.Skipped {
		p.Problems = append(p.Problems, Problem{EventID: s.EventID, Reason: s.Reason})
	}
	var blackouts []Entry
	for _, o := range res.Occurrences {
		if !(BoxResources{Camera: resourceID, Room: opts.Room}).Owns(o.ResourceIDs) {
			if o.Type == schedule.TypeBlackout && len(o.ResourceIDs) == 0 && o.Status == schedule.StatusActive {
				p.Problems = append(p.Problems, Problem{EventID: o.ReferenceID(),
					Reason: "blackout " + o.Key + " has no resource: not applied"})
			}
			continue
		}
		e := Entry{Occurrence: o}
		switch {
		case o.Status != schedule.StatusActive:
			e.Why = "cancelled"
		case o.Type == schedule.TypeBlackout:
			e.Why = "blackout"
			blackouts = append(blackouts, e)
		case o.Type != schedule.TypeRecord:
			e.Why = fmt.Sprintf("type %d (%s) is not recorded", o.Type, TypeName(o.Type))
		default:
			e.Record = true
		}
		p.Entries = append(p.Entries, e)
	}
	suppress(p.Entries, blackouts)
	sort.SliceStable(p.Entries, func(i, j int) bool {
		a, b := p.Entries[i].Occurrence, p.Entries[j].Occurrence
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return Compare(a, b) < 0
	})
	p.Conflicted = markOverlaps(p.Entries)
	return p
}

// suppress marks every recording that overlaps a blackout as not recorded,
// in O(n log n): blackouts sorted by start with the running maximum of
// their ends answer "does any blackout that starts before this recording
// ends still run after it starts".
func suppress(entries []Entry, blackouts []Entry) {
	if len(blackouts) == 0 {
		return
	}
	slices.SortFunc(blackouts, func(a, b Entry) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	// latest[i] is the index, among blackouts[:i+1], of the one that ends last.
	latest := make([]int, len(blackouts))
	for i := range blackouts {
		latest[i] = i
		if i > 0 && !blackouts[i].End.After(blackouts[latest[i-1]].End) {
			latest[i] = latest[i-1]
		}
	}
	for i := range entries {
		e := &entries[i]
		if !e.Record {
			continue
		}
		k := sort.Search(len(blackouts), func(j int) bool { return !blackouts[j].Start.Before(e.End) })
		if k == 0 {
			continue
		}
		if b := blackouts[latest[k-1]]; b.End.After(e.Start) {
			e.Record, e.Why = false, "suppressed by blackout "+b.Key
		}
	}
}

// rank maps PRIORITY to an order: 1 first, 9 last, 0 (undefined) after 9.
func rank(priority int) int {
	if priority <= 0 || priority > 9 {
		return 10
	}
	return priority
}

// Compare is the order for choosing one event (kaltura.md §8), and the
// only place that rule lives: PRIORITY (1 highest, 9 lowest, 0 undefined
// after 9), then earliest start, then lowest id (the referenceId: the
// event id, or the series id of an expanded instance), then key. It
// returns a negative number when a ranks before b.
func Compare(a, b schedule.Occurrence) int {
	if ra, rb := rank(a.Priority), rank(b.Priority); ra != rb {
		return cmp.Compare(ra, rb)
	}
	if c := a.Start.Compare(b.Start); c != 0 {
		return c
	}
	if c := cmp.Compare(a.ReferenceID(), b.ReferenceID()); c != 0 {
		return c
	}
	return strings.Compare(a.Key, b.Key)
}

// InWindow reports whether o should be recording at now with pre and post
// padding: Start−pre ≤ now < End+post.
func InWindow(o schedule.Occurrence, now time.Time, pre, post time.Duration) bool {
	return !now.Before(o.Start.Add(-pre)) && now.Before(o.End.Add(post))
}

// Recordings returns the occurrences the box records, by start.
func (p Plan) Recordings() []schedule.Occurrence {
	var out []schedule.Occurrence
	for _, e := range p.Entries {
		if e.Record {
			out = append(out, e.Occurrence)
		}
	}
	return out
}

// Active returns the recordings that should be running at now, with pre
// and post padding: those with Start−pre ≤ now < End+post (InWindow). They
// are in Compare order, so the first is the primary one.
func (p Plan) Active(now time.Time, pre, post time.Duration) []schedule.Occurrence {
	var out []schedule.Occurrence
	for _, e := range p.Entries {
		if e.Record && InWindow(e.Occurrence, now, pre, post) {
			out = append(out, e.Occurrence)
		}
	}
	slices.SortStableFunc(out, Compare)
	return out
}

// Next returns the recording that starts soonest after now (strictly
// after); among equal starts, the first in Compare order.
func (p Plan) Next(now time.Time) (schedule.Occurrence, bool) {
	var best schedule.Occurrence
	found := false
	for _, e := range p.Entries {
		if !e.Record || !e.Start.After(now) {
			continue
		}
		if !found || e.Start.Before(best.Start) || e.Start.Equal(best.Start) && Compare(e.Occurrence, best) < 0 {
			best, found = e.Occurrence, true
		}
	}
	return best, found
}

// NextStart returns when the soonest recording that has not started by
// now starts, with pre padding (its Start−pre, strictly after now): the
// capture warms up ahead of it (recording.warmup).
func (p Plan) NextStart(now time.Time, pre time.Duration) (time.Time, bool) {
	var best time.Time
	found := false
	for _, e := range p.Entries {
		st := e.Start.Add(-pre)
		if e.Record && st.After(now) && (!found || st.Before(best)) {
			best, found = st, true
		}
	}
	return best, found
}

// Primary returns the one recording the display shows and the button acts
// on at now: the first of Active(now, 0, 0) in Compare order. ok is false
// when nothing is recording (the display then shows Next).
func (p Plan) Primary(now time.Time) (schedule.Occurrence, bool) {
	act := p.Active(now, 0, 0)
	if len(act) == 0 {
		return schedule.Occurrence{}, false
	}
	return act[0], true
}

// Lookup returns the entry with key.
func (p Plan) Lookup(key string) (Entry, bool) {
	for _, e := range p.Entries {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Within reports whether the recording with key is in its window at now,
// with pre and post padding (InWindow); false when the plan has no such
// occurrence.
func (p Plan) Within(key string, now time.Time, pre, post time.Duration) bool {
	e, ok := p.Lookup(key)
	return ok && InWindow(e.Occurrence, now, pre, post)
}

// Find returns the current entry of an occurrence the box started
// recording: by key, or, when a series edit gave the occurrence a new id
// (Kaltura deletes and recreates occurrences), by series and start time.
func (p Plan) Find(o schedule.Occurrence) (Entry, bool) {
	if e, ok := p.Lookup(o.Key); ok {
		return e, true
	}
	if o.ParentID != 0 {
		for _, e := range p.Entries {
			if e.ParentID == o.ParentID && e.Start.Equal(o.Start) {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// Change is an entry present in both plans that differs.
type Change struct {
	Old, New Entry
	Fields   []string // names of the fields that differ
}

// Changes is the difference between two plans, for logging.
type Changes struct {
	Added, Removed []Entry
	Changed        []Change
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// String summarises the changes in one line of keys.
func (c Changes) String() string {
	if c.Empty() {
		return "no changes"
	}
	s := ""
	add := func(label string, keys []string) {
		if len(keys) == 0 {
			return
		}
		if s != "" {
			s += "; "
		}
		s += label + " " + strconv.Itoa(len(keys)) + ": " + fmt.Sprint(keys)
	}
	var a, r, ch []string
	for _, e := range c.Added {
		a = append(a, e.Key)
	}
	for _, e := range c.Removed {
		r = append(r, e.Key)
	}
	for _, x := range c.Changed {
		ch = append(ch, x.New.Key+fmt.Sprint(x.Fields))
	}
	add("added", a)
	add("removed", r)
	add("changed", ch)
	return s
}

// Diff lists what changed from old to new, keyed by occurrence key, each
// list in the new (or, for removals, old) plan's order.
func Diff(old, new Plan) Changes {
	oldBy := make(map[string]Entry, len(old.Entries))
	for _, e := range old.Entries {
		oldBy[e.Key] = e
	}
	newKeys := make(map[string]bool, len(new.Entries))
	var c Changes
	for _, e := range new.Entries {
		newKeys[e.Key] = true
		o, ok := oldBy[e.Key]
		if !ok {
			c.Added = append(c.Added, e)
			continue
		}
		if f := changedFields(o, e); len(f) > 0 {
			c.Changed = append(c.Changed, Change{Old: o, New: e, Fields: f})
		}
	}
	for _, e := range old.Entries {
		if !newKeys[e.Key] {
			c.Removed = append(c.Removed, e)
		}
	}
	return c
}

func changedFields(a, b Entry) []string {
	var f []string
	check := func(name string, differ bool) {
		if differ {
			f = append(f, name)
		}
	}
	check("start", !a.Start.Equal(b.Start))
	check("end", !a.End.Equal(b.End))
	check("record", a.Record != b.Record || a.Why != b.Why)
	check("status", a.Status != b.Status)
	check("type", a.Type != b.Type)
	check("title", a.Title != b.Title)
	check("description", a.Description != b.Description)
	check("priority", a.Priority != b.Priority)
	check("tzid", a.TZID != b.TZID)
	check("resources", !slices.Equal(a.ResourceIDs, b.ResourceIDs))
	check("tags", a.Tags != b.Tags)
	check("template", a.TemplateEntryID != b.TemplateEntryID)
	check("categories", !slices.Equal(a.CategoryIDs, b.CategoryIDs))
	check("overlap", a.Overlap.Count != b.Overlap.Count || !slices.Equal(a.Overlap.Ahead, b.Overlap.Ahead))
	return f
}

// TypeName names an X-KALTURA-TYPE.
func TypeName(t schedule.EventType) string {
	switch t {
	case schedule.TypeRecord:
		return "record"
	case schedule.TypeLive:
		return "live"
	case schedule.TypeBlackout:
		return "blackout"
	case schedule.TypeMeeting:
		return "meeting"
	case schedule.TypeLiveRedirect:
		return "live_redirect"
	case schedule.TypeVOD:
		return "vod"
	}
	return "unknown"
}

// StatusName names an X-KALTURA-STATUS.
func StatusName(s schedule.Status) string {
	switch s {
	case schedule.StatusCancelled:
		return "cancelled"
	case schedule.StatusActive:
		return "active"
	case schedule.StatusDeleted:
		return "deleted"
	}
	return "unknown"
}
