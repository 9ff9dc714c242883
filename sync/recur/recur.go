// Package recur turns the events of a Kaltura calendar into the concrete
// occurrences of a time window: single events and the occurrences Kaltura
// sent are taken as they are, and a series is expanded with
// github.com/teambition/rrule-go only when Kaltura sent none of its
// occurrences.
//
// # Which events are expanded
//
// Kaltura stores a series (recurrenceType 1, carries the RRULE) and up to
// 1000 concrete occurrences (recurrenceType 2, X-KALTURA-PARENT-ID set).
// Each occurrence is edited, cancelled or deleted on its own, and when the
// series is edited the occurrences are deleted and recreated with new ids
// (kaltura.md §1, §2). So:
//
//   - An occurrence (X-KALTURA-PARENT-ID present) is concrete. It is never
//     expanded, even though it carries its series' RRULE.
//   - A series is expanded only when NO occurrence of it (any status) is in
//     the events. If one is present, Kaltura has materialised the series
//     and the occurrences are the truth: an occurrence moved, cancelled or
//     deleted on the server must not come back as an expanded instance
//     keyed by date. Merging "expanded unless an occurrence covers the same
//     start" would resurrect every deleted or moved lecture.
//   - With the recommended query (recurrenceTypeIn=0,2, kaltura.md §2) no
//     series arrives and nothing is expanded; expansion is the fallback for
//     feeds that deliver series only (recurrenceTypeIn=0,1, hand-made
//     files, the FTP listing of a series). Its one blind spot: a calendar
//     that holds a series and (because every occurrence in the window was
//     deleted) none of its occurrences looks like a series-only feed. A
//     fetcher that asked for occurrences should set Options.NoExpansion.
//
// Expansion happens in the series' own time zone (TZID, else UTC): a 09:00
// lecture stays at 09:00 local across DST changes, and each instance lasts
// End−Start of the series. Wall times that do not exist or occur twice are
// resolved as RFC 5545 says (schedule.ResolveLocal). UNTIL is inclusive.
// Instances on invalid dates (31 September) are skipped, not moved.
//
// Known limit: a series whose DTSTART itself is written in a DST gap
// (02:30 on the spring-forward day) repeats at the resolved wall time
// (03:30), because schedule.Event keeps DTSTART as an instant; RFC 5545
// would keep 02:30 on the other days. Kaltura's lectures do not start in
// the small hours.
//
// The expansion is checked against ical.js 2.2.1 by a differential test
// (diff_test.go, difftest/); see there for the three places where ical.js
// departs from RFC 5545 and this package does not.
package recur

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	rrule "github.com/teambition/rrule-go"

	"github.com/capturebox/capturebox/sync/schedule"
)

// DefaultMaxInstances bounds the instances generated for one series, from
// its DTSTART up to the end of the window. Kaltura allows 1000 occurrences
// over at most two years; the bound is ten times that.
const DefaultMaxInstances = 10000

// Options tune Expand. The zero value is the default.
type Options struct {
	// MaxInstances bounds the instances generated per series; 0 means
	// DefaultMaxInstances. A series that reaches it is reported in
	// Result.Skipped and keeps the instances found so far.
	MaxInstances int
	// NoExpansion turns expansion off: use it when the feed was asked for
	// concrete occurrences (recurrenceTypeIn including 2), so that a series
	// alone is never taken for a feed without occurrences.
	NoExpansion bool
}

// Skip reports a series that could not be (fully) expanded.
type Skip struct {
	EventID int64
	Reason  string
}

// Result is the outcome of Expand.
type Result struct {
	// Occurrences overlap the window, sorted by start, then key. Deleted
	// events (status 3) are left out.
	Occurrences []schedule.Occurrence
	// Skipped lists series whose expansion failed or was cut short.
	Skipped []Skip
}

// Expand returns the occurrences of events that overlap [from, to): an
// occurrence is in when it ends after from and starts before to, so an
// event already running at from is included.
//
// Events with the same X-KALTURA-ID (overlapping pages) are merged: the
// highest SEQUENCE wins, then the latest DTSTAMP, then the later one.
// An occurrence without resources inherits its series' resources (and
// template and categories when it has none) when the series is present.
func Expand(events []schedule.Event, from, to time.Time, opts Options) Result {
	if opts.MaxInstances <= 0 {
		opts.MaxInstances = DefaultMaxInstances
	}
	evs := dedupe(events)
	byID := make(map[int64]*schedule.Event, len(evs))
	hasOccurrences := map[int64]bool{}
	for i := range evs {
		byID[evs[i].ID] = &evs[i]
		if evs[i].IsOccurrence() {
			hasOccurrences[evs[i].ParentID] = true
		}
	}
	res := Result{Occurrences: make([]schedule.Occurrence, 0, len(evs))}
	for _, ev := range evs {
		if ev.Status == schedule.StatusDeleted {
			continue
		}
		if ev.IsSeries() {
			if opts.NoExpansion || hasOccurrences[ev.ID] {
				continue
			}
			occs, err := Series(ev, from, to, opts.MaxInstances)
			if err != nil {
				res.Skipped = append(res.Skipped, Skip{EventID: ev.ID, Reason: err.Error()})
			}
			res.Occurrences = append(res.Occurrences, occs...)
			continue
		}
		if ev.IsOccurrence() {
			if parent, ok := byID[ev.ParentID]; ok {
				inherit(&ev, parent)
			}
		}
		if ev.End.After(from) && ev.Start.Before(to) {
			res.Occurrences = append(res.Occurrences, Concrete(ev))
		}
	}
	sort.SliceStable(res.Occurrences, func(i, j int) bool {
		a, b := res.Occurrences[i], res.Occurrences[j]
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start)
		}
		return a.Key < b.Key
	})
	return res
}

func inherit(ev, parent *schedule.Event) {
	if len(ev.ResourceIDs) == 0 {
		ev.ResourceIDs = parent.ResourceIDs
	}
	if ev.TemplateEntryID == "" {
		ev.TemplateEntryID = parent.TemplateEntryID
	}
	if len(ev.CategoryIDs) == 0 {
		ev.CategoryIDs = parent.CategoryIDs
	}
}

// dedupe keeps one event per X-KALTURA-ID, in first-seen order.
func dedupe(events []schedule.Event) []schedule.Event {
	idx := make(map[int64]int, len(events))
	dup := false
	for i, ev := range events {
		if _, seen := idx[ev.ID]; seen {
			dup = true
			break
		}
		idx[ev.ID] = i
	}
	if !dup {
		return events // the usual case: no copy (Expand never modifies it)
	}
	clear(idx)
	out := make([]schedule.Event, 0, len(events))
	for _, ev := range events {
		i, seen := idx[ev.ID]
		if !seen {
			idx[ev.ID] = len(out)
			out = append(out, ev)
			continue
		}
		old := out[i]
		if ev.Sequence > old.Sequence || ev.Sequence == old.Sequence && !ev.Updated.Before(old.Updated) {
			out[i] = ev
		}
	}
	return out
}

// Concrete returns the occurrence of a single event or of an occurrence
// Kaltura sent: keyed by its X-KALTURA-ID.
func Concrete(ev schedule.Event) schedule.Occurrence {
	o := occurrence(ev, ev.Start, ev.End)
	o.Key = strconv.FormatInt(ev.ID, 10)
	o.EventID = ev.ID
	o.ParentID = ev.ParentID
	return o
}

func occurrence(ev schedule.Event, start, end time.Time) schedule.Occurrence {
	return schedule.Occurrence{
		Type:            ev.Type,
		Status:          ev.Status,
		Title:           ev.Title,
		Description:     ev.Description,
		Priority:        ev.Priority,
		Start:           start.UTC(),
		End:             end.UTC(),
		TZID:            ev.TZID,
		ResourceIDs:     ev.ResourceIDs,
		Tags:            ev.Tags,
		TemplateEntryID: ev.TemplateEntryID,
		CategoryIDs:     ev.CategoryIDs,
		Updated:         ev.Updated,
	}
}

// InstanceKey is the Key of an instance the box expanded from a series.
func InstanceKey(seriesID int64, start time.Time) string {
	return strconv.FormatInt(seriesID, 10) + "@" + start.UTC().Format("20060102T150405Z")
}

// Series expands one series over [from, to) (instances that overlap the
// window), at most max instances generated from its DTSTART (0 means
// DefaultMaxInstances). On error the instances found so far are returned
// with it.
func Series(ev schedule.Event, from, to time.Time, max int) ([]schedule.Occurrence, error) {
	starts, err := Starts(ev, from.Add(-ev.End.Sub(ev.Start)), to, max)
	dur := ev.End.Sub(ev.Start)
	out := make([]schedule.Occurrence, 0, len(starts))
	for _, s := range starts {
		if !s.Add(dur).After(from) {
			continue
		}
		o := occurrence(ev, s, s.Add(dur))
		o.Key = InstanceKey(ev.ID, s)
		o.ParentID = ev.ID
		out = append(out, o)
	}
	return out, err
}

// slack covers wall-clock order and instant order disagreeing around a
// DST change: the iteration stops only this far past a bound.
const slack = 48 * time.Hour

// Starts returns the start instants of the series ev in [from, to), in the
// series' zone, honouring COUNT and an inclusive UNTIL.
func Starts(ev schedule.Event, from, to time.Time, max int) (out []time.Time, err error) {
	defer func() {
		// rrule-go is not written for hostile rules; never let one take
		// the box down.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("series %d: RRULE: expansion failed: %v", ev.ID, r)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	}()
	if max <= 0 {
		max = DefaultMaxInstances
	}
	loc := time.UTC
	if ev.TZID != "" {
		l, err := time.LoadLocation(ev.TZID)
		if err != nil || ev.TZID == "Local" {
			return nil, fmt.Errorf("series %d: unknown TZID %q", ev.ID, ev.TZID)
		}
		loc = l
	}
	opt, err := rrule.StrToROptionInLocation(ev.RRule, loc)
	if err != nil {
		return nil, fmt.Errorf("series %d: RRULE: %w", ev.ID, err)
	}
	// Expand in "floating" wall-clock time (UTC has no DST), then place
	// each wall time in the zone. rrule-go would otherwise build instances
	// with time.Date, whose answer inside a DST gap is not RFC 5545's.
	until := opt.Until
	opt.Until = time.Time{}
	opt.Dtstart = wallUTC(ev.Start.In(loc))
	rule, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("series %d: RRULE: %w", ev.ID, err)
	}
	next := rule.Iterator()
	for n := 0; ; n++ {
		w, ok := next()
		if !ok {
			return out, nil
		}
		if n >= max {
			return out, fmt.Errorf("series %d: more than %d instances before the window ends", ev.ID, max)
		}
		inst := schedule.ResolveLocal(w, loc)
		if !until.IsZero() && inst.After(until) {
			if inst.After(until.Add(slack)) {
				return out, nil
			}
			continue
		}
		if !inst.Before(to) {
			if !inst.Before(to.Add(slack)) {
				return out, nil
			}
			continue
		}
		if !inst.Before(from) {
			out = append(out, inst.UTC())
		}
	}
}

func wallUTC(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}
