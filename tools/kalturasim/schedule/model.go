// Package schedule is the scheduling half of the Kaltura simulator: an
// in-memory, concurrency-safe store of schedule events and schedule
// resources per partner, the schedule_scheduleevent and
// schedule_scheduleresource actions over it, and the iCal writer that
// answers format=ical exactly as the real Kaltura serializer does, quirks
// included (kaltura.md §1, §2, §8).
//
// Events are stored the way the server stores rows: a series (recurrenceType
// RECURRING) owns up to 1000 occurrence rows (RECURRENCE) that carry only
// their own dates; every other field of an occurrence is null in the store
// and is filled from the parent only when the event is written out. Filters
// run against the stored rows, as Kaltura's search index does, so for
// example templateEntryIdEqual does not find occurrences.
package schedule

import (
	"strconv"
	"strings"
)

// Event statuses (kaltura.md §2).
const (
	StatusCancelled = 1
	StatusActive    = 2
	StatusDeleted   = 3
)

// Recurrence types (kaltura.md §2).
const (
	RecurrenceNone       = 0 // a single event
	RecurrenceRecurring  = 1 // a series; carries the recurrence rule
	RecurrenceRecurrence = 2 // an occurrence of a series
)

// Event types (X-KALTURA-TYPE).
const (
	TypeRecord       = 1
	TypeLiveStream   = 2
	TypeBlackout     = 3
	TypeMeeting      = 4
	TypeLiveRedirect = 5
	TypeVOD          = 6
)

// Classification types (iCal CLASS).
const (
	ClassPublic       = 1
	ClassPrivate      = 2
	ClassConfidential = 3
)

// Resource types and statuses.
const (
	ResourceLocation  = 1
	ResourceLiveEntry = 2
	ResourceCamera    = 3

	ResourceDisabled = 1
	ResourceActive   = 2
	ResourceDeleted  = 3
)

// Limits of the schedule plugin (kaltura.md §8).
const (
	MaxSingleDuration = 24 * 60 * 60           // an event or occurrence lasts at most 24 h
	MaxSeriesDuration = 2 * 365 * 24 * 60 * 60 // a series spans at most two years
	MaxRecurrences    = 1000                   // occurrence rows per series
	MaxPageSize       = 500
	DefaultPageSize   = 30
	MaxMatches        = 10000 // an offset at or past this fails
	MaxRelativeTime   = 315360000
	FirstEventID      = 7340000
	FirstResourceID   = 51
)

// eventTypeNames maps an event type to its API class name.
var eventTypeNames = map[int]string{
	TypeRecord:       "KalturaRecordScheduleEvent",
	TypeLiveStream:   "KalturaLiveStreamScheduleEvent",
	TypeBlackout:     "KalturaBlackoutScheduleEvent",
	TypeMeeting:      "KalturaMeetingScheduleEvent",
	TypeLiveRedirect: "KalturaLiveRedirectScheduleEvent",
	TypeVOD:          "KalturaVodScheduleEvent",
}

// EventTypeOf returns the event type for an API class name, or 0.
func EventTypeOf(objectType string) int {
	for t, n := range eventTypeNames {
		if n == objectType {
			return t
		}
	}
	return 0
}

// ObjectTypeOf returns the API class name of an event type.
func ObjectTypeOf(eventType int) string {
	if n, ok := eventTypeNames[eventType]; ok {
		return n
	}
	return "KalturaScheduleEvent"
}

// isEntryEvent reports whether events of type t carry templateEntryId,
// entryIds and categoryIds (and get the X-KALTURA entry properties in iCal).
func isEntryEvent(t int) bool { return t == TypeRecord || t == TypeLiveStream }

var resourceTypeNames = map[int]string{
	ResourceLocation:  "KalturaLocationScheduleResource",
	ResourceLiveEntry: "KalturaLiveEntryScheduleResource",
	ResourceCamera:    "KalturaCameraScheduleResource",
}

// Recurrence is KalturaScheduleEventRecurrence. String fields hold the
// comma lists exactly as they were sent (e.g. ByDay "TU,TH").
type Recurrence struct {
	Name         string
	Frequency    string // seconds, minutes, hours, days, weeks, months, years
	Until        int64  // Unix seconds; 0 = none
	TimeZone     string // IANA id, or "" (then dates are computed and written in UTC)
	Count        int
	Interval     int
	BySecond     string
	ByMinute     string
	ByHour       string
	ByDay        string
	ByMonthDay   string
	ByYearDay    string
	ByWeekNumber string
	ByMonth      string
	ByOffset     string // BYSETPOS
	WeekStartDay string // WKST, e.g. "MO"
}

// LinkedTo is kLinkedScheduleEvent: the event follows another one.
type LinkedTo struct {
	EventID int64
	Offset  int64
}

// Event is one schedule_event row. For an occurrence, zero values mean
// null: they are filled from the parent when the event is written out.
type Event struct {
	ID                 int64
	PartnerID          int64
	ParentID           int64
	Type               int
	ReferenceID        string
	Summary            string
	Description        string
	Status             int
	StartDate          int64
	EndDate            int64
	Duration           int64
	OriginalStartDate  int64 // occurrences: the date the series generated
	RecurrenceType     int
	Recurrence         *Recurrence
	ClassificationType int
	GeoLatitude        float64
	GeoLongitude       float64
	Location           string
	Organizer          string
	OwnerID            string
	Priority           int
	Sequence           int
	Contact            string
	Comment            string
	Tags               string
	CreatedAt          int64
	UpdatedAt          int64
	ResourceIDs        []int64
	TemplateEntryID    string
	EntryIDs           string
	CategoryIDs        string
	LinkedTo           *LinkedTo
}

// clone returns a deep copy of e.
func (e *Event) clone() *Event {
	c := *e
	if e.Recurrence != nil {
		r := *e.Recurrence
		c.Recurrence = &r
	}
	if e.LinkedTo != nil {
		l := *e.LinkedTo
		c.LinkedTo = &l
	}
	c.ResourceIDs = append([]int64(nil), e.ResourceIDs...)
	return &c
}

// Resource is one schedule_resource row.
type Resource struct {
	ID          int64
	PartnerID   int64
	ParentID    int64
	Type        int // ResourceLocation, ResourceLiveEntry or ResourceCamera
	Name        string
	SystemName  string
	Description string
	Tags        string
	Status      int
	CreatedAt   int64
	UpdatedAt   int64
}

// joinInts writes ids as a comma list.
func joinInts(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

// parseInts reads a comma list of integers; it skips blanks and reports the
// first value that is not an integer.
func parseInts(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
