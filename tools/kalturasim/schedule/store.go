package schedule

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/teambition/rrule-go"
)

// PartnerOptions are the per-partner switches of the server that change
// what the schedule API answers.
type PartnerOptions struct {
	// LegacyICal is FEATURE_DISABLE_NEW_ICAL_STANDARD. The caller's
	// kapi.Caller.LegacyICal turns it on as well.
	LegacyICal bool
	// DisableRelativeTime puts the partner in disable_relative_time_partners:
	// small time values are then taken literally (0 is 1970).
	DisableRelativeTime bool
	// ProdID, when set, emits the 2024-11..2025-02 header
	// "PRODID:-//Kaltura Inc//Kaltura Server <ProdID>//EN" and "VERSION:2.0".
	ProdID string
	// NoVTimezone leaves the (buggy) VTIMEZONE block out of the calendar.
	NoVTimezone bool
}

// Option configures a Store.
type Option func(*Store)

// WithDataCenter sets the data-centre id that sequence numbers end in
// (kDataCenterMgr::incrementVersion): 1 gives 11, 21…; the default 2 gives
// 12, 22….
func WithDataCenter(dc int) Option { return func(s *Store) { s.dc = dc } }

// Store holds the schedule events and resources of every partner. It is
// safe for concurrent use.
type Store struct {
	clock func() time.Time
	dc    int

	mu        sync.Mutex
	nextEvent int64
	nextRes   int64
	partners  map[int64]*partner
}

type partner struct {
	id         int64
	events     map[int64]*Event
	views      map[string][]*Event       // sorted non-deleted rows per orderBy; nil after a change
	resTokens  map[int64]map[string]bool // words of each event's resource index; nil after a change
	resources  map[int64]*Resource
	categories map[int64]string // category id -> full ids ("12>300>301")
	opts       PartnerOptions
}

// New returns an empty store. clock is the simulator's clock, used by the
// admin methods and whenever a kapi.Caller has no Now.
func New(clock func() time.Time, opts ...Option) *Store {
	if clock == nil {
		clock = time.Now
	}
	s := &Store{
		clock:     clock,
		dc:        2,
		nextEvent: FirstEventID,
		nextRes:   FirstResourceID,
		partners:  map[int64]*partner{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// partnerLocked returns the partner's data, creating it. s.mu must be held.
func (s *Store) partnerLocked(id int64) *partner {
	p := s.partners[id]
	if p == nil {
		p = &partner{
			id:         id,
			events:     map[int64]*Event{},
			resources:  map[int64]*Resource{},
			categories: map[int64]string{},
		}
		s.partners[id] = p
	}
	return p
}

// SetPartnerOptions replaces the options of a partner.
func (s *Store) SetPartnerOptions(partnerID int64, o PartnerOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partnerLocked(partnerID).opts = o
}

// PartnerOptions returns the options of a partner.
func (s *Store) PartnerOptions(partnerID int64) PartnerOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.partnerLocked(partnerID).opts
}

// SetCategory records a category's full ids (e.g. "12>300>301"), which
// RELATED-TO writes for events in that category.
func (s *Store) SetCategory(partnerID, categoryID int64, fullIDs string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partnerLocked(partnerID).categories[categoryID] = fullIDs
}

// incrementVersion is kDataCenterMgr::incrementVersion: the next multiple of
// ten plus the data-centre id.
func (s *Store) incrementVersion(v int) int { return (v/10+1)*10 + s.dc }

// relativeNow returns "now" for relative time values: the KS reftime
// privilege overrides the clock.
func relativeNow(c kapi.Caller, now time.Time) int64 {
	for _, pr := range c.Privileges {
		if v, ok := strings.CutPrefix(pr, "reftime:"); ok {
			if t, err := strconv.ParseInt(v, 10, 64); err == nil {
				return t
			}
		}
	}
	return now.Unix()
}

// toAbsolute applies kTime::getRelativeTime: |v| ≤ ten years means now+v,
// except −1, unless the partner has relative time switched off.
func toAbsolute(v, now int64, disabled bool) int64 {
	if disabled || v == -1 || v > MaxRelativeTime || v < -MaxRelativeTime {
		return v
	}
	return now + v
}

// callerNow is the time of a call.
func (s *Store) callerNow(c kapi.Caller) time.Time {
	if !c.Now.IsZero() {
		return c.Now
	}
	return s.clock()
}

// ---- events: the core operations shared by the API and the admin methods

func (s *Store) changed(p *partner) { p.views, p.resTokens = nil, nil }

// getLocked returns a visible (not DELETED) event of the partner.
// visibleLocked returns the visible event id, or INVALID_OBJECT_ID.
func (p *partner) visibleLocked(id int64) (*Event, error) {
	if e := p.getLocked(id); e != nil {
		return e, nil
	}
	return nil, invalidObjectID(id)
}

func (p *partner) getLocked(id int64) *Event {
	e := p.events[id]
	if e == nil || e.Status == StatusDeleted {
		return nil
	}
	return e
}

// validateTimes is KalturaScheduleEvent::validate plus the single-event limit.
func validateTimes(start, end int64, single bool) error {
	if start > end {
		return kapi.Errorf("INVALID_SCHEDULE_END_BEFORE_START",
			fmt.Sprintf("End time [%d] must be after start time [%d]", end, start),
			"START", strconv.FormatInt(start, 10), "END", strconv.FormatInt(end, 10))
	}
	if end-start > MaxSeriesDuration {
		return maxDurationErr(MaxSeriesDuration)
	}
	if single && end-start > MaxSingleDuration {
		return maxDurationErr(MaxSingleDuration)
	}
	return nil
}

func maxDurationErr(max int64) error {
	return kapi.Errorf("MAX_SCHEDULE_DURATION_REACHED",
		fmt.Sprintf("Maximum schedule duration [%d] reached", max), "MAX", strconv.FormatInt(max, 10))
}

func invalidObjectID(id int64) error {
	return kapi.Errorf("INVALID_OBJECT_ID", fmt.Sprintf("Invalid object id [%d]", id), "ID", strconv.FormatInt(id, 10))
}

func cannotBeNull(class, prop string) error {
	name := class + "::" + prop
	return kapi.Errorf("PROPERTY_VALIDATION_CANNOT_BE_NULL",
		fmt.Sprintf("The property \"%s\" cannot be null", name), "PROP_NAME", name)
}

// timeInUse reports SCHEDULE_TIME_IN_USE: a single entry event overlapping
// another single event with the same template entry.
func (p *partner) timeInUse(e *Event) error {
	if e.RecurrenceType != RecurrenceNone || e.TemplateEntryID == "" || !isEntryEvent(e.Type) {
		return nil
	}
	for _, o := range p.events {
		if o.ID == e.ID || o.Status == StatusDeleted || o.RecurrenceType != RecurrenceNone ||
			o.TemplateEntryID != e.TemplateEntryID {
			continue
		}
		if o.StartDate < e.EndDate && o.EndDate > e.StartDate {
			return kapi.Errorf("SCHEDULE_TIME_IN_USE", "Another event is already scheduled during this time")
		}
	}
	return nil
}

// addLocked validates and inserts a new single event or series (with its
// occurrences). e is owned by the store afterwards.
func (s *Store) addLocked(p *partner, e *Event, now int64) error {
	class := ObjectTypeOf(e.Type)
	if e.Summary == "" {
		return cannotBeNull(class, "summary")
	}
	if e.StartDate == 0 {
		return cannotBeNull(class, "startDate")
	}
	switch e.RecurrenceType {
	case RecurrenceNone:
		// validateForInsert does not look at a recurrence sent with a single event.
	case RecurrenceRecurring:
		if e.Duration == 0 && e.EndDate != 0 {
			e.Duration = e.EndDate - e.StartDate
		} else if e.EndDate == 0 && e.Duration != 0 {
			e.EndDate = e.StartDate + e.Duration
		}
		if e.Recurrence == nil {
			return cannotBeNull(class, "recurrence")
		}
		if e.Duration == 0 {
			return cannotBeNull(class, "duration")
		}
	case RecurrenceRecurrence:
		return kapi.Errorf("INVALID_ENUM_VALUE",
			fmt.Sprintf("Invalid enumeration value [%d] for property [recurrenceType] of type [KalturaScheduleEventRecurrenceType]", e.RecurrenceType),
			"VALUE", strconv.Itoa(e.RecurrenceType), "PROP_NAME", "recurrenceType", "ENUM", "KalturaScheduleEventRecurrenceType")
	default:
		return invalidEnum("recurrenceType", strconv.Itoa(e.RecurrenceType), "KalturaScheduleEventRecurrenceType")
	}
	if e.EndDate == 0 {
		return cannotBeNull(class, "endDate")
	}
	if err := validateTimes(e.StartDate, e.EndDate, true); err != nil {
		return err
	}
	if e.RecurrenceType == RecurrenceRecurring {
		if _, err := freqOf(e.Recurrence.Frequency); err != nil {
			return err
		}
	}
	if err := p.timeInUse(e); err != nil {
		return err
	}
	e.ID = s.nextEvent
	s.nextEvent++
	e.PartnerID = p.id
	e.ParentID = 0
	e.Status = StatusActive
	e.Sequence = s.incrementVersion(1)
	if e.ClassificationType == 0 {
		e.ClassificationType = ClassPublic
	}
	e.CreatedAt, e.UpdatedAt = now, now
	if e.RecurrenceType != RecurrenceRecurring {
		e.Duration = e.EndDate - e.StartDate
	}
	p.events[e.ID] = e
	if e.RecurrenceType == RecurrenceRecurring {
		dates, err := recurrenceDates(e.StartDate, e.Recurrence)
		if err != nil {
			return err
		}
		if len(dates) > 0 {
			e.StartDate = dates[0]
			e.EndDate = dates[0] + e.Duration
		}
		for _, d := range dates {
			s.addOccurrenceLocked(p, e, d, now)
		}
	}
	s.changed(p)
	return nil
}

// addOccurrenceLocked is ScheduleEventService::createRecurrence: a row with
// only its type, parent and dates; everything else is null.
func (s *Store) addOccurrenceLocked(p *partner, parent *Event, date, now int64) *Event {
	o := &Event{
		ID:                s.nextEvent,
		PartnerID:         p.id,
		ParentID:          parent.ID,
		Type:              parent.Type,
		Status:            StatusActive,
		StartDate:         date,
		OriginalStartDate: date,
		EndDate:           date + parent.Duration,
		Duration:          parent.Duration,
		RecurrenceType:    RecurrenceRecurrence,
		Sequence:          1,
		CreatedAt:         now,
		UpdatedAt:         now,
	}
	s.nextEvent++
	p.events[o.ID] = o
	return o
}

// deleteOccurrencesLocked hard-deletes the occurrences of a series except
// those listed in keep (ScheduleEventPeer::deleteByParentId).
func (s *Store) deleteOccurrencesLocked(p *partner, parentID int64, keep map[int64]bool) {
	for id, e := range p.events {
		if e.ParentID == parentID && e.RecurrenceType == RecurrenceRecurrence && !keep[id] {
			delete(p.events, id)
		}
	}
}

// occurrencesLocked returns the occurrence rows of a series in id order.
func (p *partner) occurrencesLocked(parentID int64) []*Event {
	var out []*Event
	for _, e := range p.events {
		if e.ParentID == parentID && e.RecurrenceType == RecurrenceRecurrence {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// updateLocked stores next as the new state of cur (same id), as
// ScheduleEventService::updateAction does. timeChanged says whether any of
// startDate, endDate, recurrence, recurrenceType or duration was sent;
// seqSent is the sequence sent, or 0.
func (s *Store) updateLocked(p *partner, cur, next *Event, timeChanged bool, seqSent int, now int64) error {
	class := ObjectTypeOf(cur.Type)
	if next.EndDate == 0 {
		return cannotBeNull(class, "endDate")
	}
	if err := validateTimes(next.StartDate, next.EndDate, false); err != nil {
		return err
	}
	// validateScheduleEventType
	src, dst := cur.RecurrenceType, next.RecurrenceType
	if (src == RecurrenceRecurrence && dst != RecurrenceRecurrence) ||
		(src != RecurrenceRecurrence && dst == RecurrenceRecurrence) {
		return kapi.Errorf("SCHEDULE_EVENT_TYPE_CANT_BE_UPDATED",
			fmt.Sprintf(" Can't update from type [%d] to type [%d]", src, dst),
			"SOURCE_TYPE", strconv.Itoa(src), "TARGET_TYPE", strconv.Itoa(dst))
	}
	if dst == RecurrenceNone && next.Recurrence != nil && src == RecurrenceNone {
		return kapi.Errorf("INVALID_OBJECT_TYPE", "Can't update single schedule event with recurring data when recurrenceType is not \"RECURRING\".")
	}
	if dst == RecurrenceRecurring {
		if next.Duration > MaxSingleDuration {
			return maxDurationErr(MaxSingleDuration)
		}
		if next.Recurrence == nil {
			return cannotBeNull(class, "recurrence")
		}
		if _, err := freqOf(next.Recurrence.Frequency); err != nil {
			return err
		}
	} else if next.EndDate-next.StartDate > MaxSingleDuration {
		return maxDurationErr(MaxSingleDuration)
	}
	if err := p.timeInUse(next); err != nil {
		return err
	}
	if seqSent == 0 || seqSent <= cur.Sequence {
		next.Sequence = s.incrementVersion(cur.Sequence)
	} else {
		next.Sequence = seqSent
	}
	next.ID, next.PartnerID, next.ParentID = cur.ID, cur.PartnerID, cur.ParentID
	next.CreatedAt = cur.CreatedAt
	next.UpdatedAt = now
	if dst == RecurrenceNone && src == RecurrenceRecurring {
		s.deleteOccurrencesLocked(p, cur.ID, nil)
		next.Recurrence = nil
		next.Sequence = 1
	}
	if dst != RecurrenceRecurring {
		next.Duration = next.EndDate - next.StartDate
	} else if next.Duration == 0 {
		next.Duration = next.EndDate - next.StartDate
	}
	if dst == RecurrenceRecurring && timeChanged {
		dates, err := recurrenceDates(next.StartDate, next.Recurrence)
		if err != nil {
			return err
		}
		if len(dates) > 0 {
			next.StartDate = dates[0]
			next.EndDate = dates[0] + next.Duration
			s.updateRecurrencesLocked(p, next, dates, now)
		}
	}
	*cur = *next
	s.changed(p)
	return nil
}

// updateRecurrencesLocked is ScheduleEventService::updateRecurrences: the
// occurrences whose start and end did not change keep their rows and ids;
// all others are hard-deleted and the missing dates get new rows (new ids).
func (s *Store) updateRecurrencesLocked(p *partner, series *Event, dates []int64, now int64) {
	want := make(map[int64]bool, len(dates))
	for _, d := range dates {
		want[d] = true
	}
	keep := map[int64]bool{}
	kept := map[int64]bool{} // original start dates of kept rows
	for _, o := range p.occurrencesLocked(series.ID) {
		if want[o.StartDate] && o.EndDate == o.StartDate+series.Duration {
			keep[o.ID] = true
			kept[o.OriginalStartDate] = true
		}
	}
	s.deleteOccurrencesLocked(p, series.ID, keep)
	for _, d := range dates {
		if !kept[d] {
			s.addOccurrenceLocked(p, series, d, now)
		}
	}
}

// cancelLocked marks an event CANCELLED; a series loses all its occurrence
// rows (ScheduleEventService::cancelAction).
func (s *Store) cancelLocked(p *partner, e *Event, now int64) {
	e.Status = StatusCancelled
	e.UpdatedAt = now
	if e.RecurrenceType == RecurrenceRecurring {
		s.deleteOccurrencesLocked(p, e.ID, nil)
	}
	s.changed(p)
}

// deleteLocked marks an event DELETED; occurrences cannot be deleted, and a
// series loses all its occurrence rows.
func (s *Store) deleteLocked(p *partner, e *Event, now int64) error {
	if e.RecurrenceType == RecurrenceRecurrence {
		return kapi.Errorf("RECURRENCE_CANT_BE_DELETE",
			fmt.Sprintf("Recurence [%d] cannot be deleted, use cancel or delete the parent recurring event [%d]", e.ID, e.ParentID),
			"ID", strconv.FormatInt(e.ID, 10), "PARENT_ID", strconv.FormatInt(e.ParentID, 10))
	}
	e.Status = StatusDeleted
	e.UpdatedAt = now
	if e.RecurrenceType == RecurrenceRecurring {
		s.deleteOccurrencesLocked(p, e.ID, nil)
	}
	s.changed(p)
	return nil
}

// ---- recurrence dates

var freqs = map[string]rrule.Frequency{
	"seconds": rrule.SECONDLY,
	"minutes": rrule.MINUTELY,
	"hours":   rrule.HOURLY,
	"days":    rrule.DAILY,
	"weeks":   rrule.WEEKLY,
	"months":  rrule.MONTHLY,
	"years":   rrule.YEARLY,
}

var freqNames = map[string]string{
	"seconds": "SECONDLY",
	"minutes": "MINUTELY",
	"hours":   "HOURLY",
	"days":    "DAILY",
	"weeks":   "WEEKLY",
	"months":  "MONTHLY",
	"years":   "YEARLY",
}

func freqOf(f string) (rrule.Frequency, error) {
	v, ok := freqs[f]
	if !ok {
		return 0, invalidEnum("frequency", f, "KalturaScheduleEventRecurrenceFrequency")
	}
	return v, nil
}

func invalidEnum(prop, value, enum string) error {
	return kapi.Errorf("INVALID_ENUM_VALUE",
		fmt.Sprintf("Invalid enumeration value [%s] for property [%s] of type [%s]", value, prop, enum),
		"VALUE", value, "PROP_NAME", prop, "ENUM", enum)
}

// location returns the IANA zone of a recurrence, or nil when the time zone
// is empty or not an IANA id (dates are then in UTC).
func (r *Recurrence) location() *time.Location {
	if r == nil || r.TimeZone == "" || r.TimeZone == "UTC" {
		return nil
	}
	return loadLocation(r.TimeZone)
}

var locCache sync.Map // zone name -> *time.Location (nil when unknown)

// loadLocation is time.LoadLocation with a cache (LoadLocation reads the
// zone file on every call).
func loadLocation(name string) *time.Location {
	if v, ok := locCache.Load(name); ok {
		return v.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	locCache.Store(name, loc)
	return loc
}

// recurrenceDates returns the start dates of a series: at most
// MaxRecurrences, none later than two years after start, computed in the
// series' time zone so that wall-clock times survive DST changes.
func recurrenceDates(start int64, r *Recurrence) ([]int64, error) {
	freq, err := freqOf(r.Frequency)
	if err != nil {
		return nil, err
	}
	loc := r.location()
	if loc == nil {
		loc = time.UTC
	}
	var parts []string
	add := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			parts = append(parts, k+"="+strings.ToUpper(v))
		}
	}
	add("BYSECOND", r.BySecond)
	add("BYMINUTE", r.ByMinute)
	add("BYHOUR", r.ByHour)
	add("BYDAY", r.ByDay)
	add("BYMONTHDAY", r.ByMonthDay)
	add("BYYEARDAY", r.ByYearDay)
	add("BYWEEKNO", r.ByWeekNumber)
	add("BYMONTH", r.ByMonth)
	add("BYSETPOS", r.ByOffset)
	add("WKST", r.WeekStartDay)
	opt := &rrule.ROption{}
	if len(parts) > 0 {
		opt, err = rrule.StrToROptionInLocation("FREQ="+freqNames[r.Frequency]+";"+strings.Join(parts, ";"), loc)
		if err != nil {
			return nil, kapi.Errorf("INVALID_ENUM_VALUE", fmt.Sprintf("Invalid recurrence rule: %v", err))
		}
	}
	opt.Freq = freq
	opt.Dtstart = time.Unix(start, 0).In(loc)
	opt.Interval = r.Interval
	opt.Count = r.Count
	if r.Until != 0 {
		opt.Until = time.Unix(r.Until, 0).In(loc)
	}
	rule, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, kapi.Errorf("INVALID_ENUM_VALUE", fmt.Sprintf("Invalid recurrence rule: %v", err))
	}
	limit := start + MaxSeriesDuration
	next := rule.Iterator()
	var out []int64
	for len(out) < MaxRecurrences {
		t, ok := next()
		if !ok || t.Unix() > limit {
			break
		}
		out = append(out, t.Unix())
	}
	return out, nil
}
