// Package schedule holds the box's model of its Kaltura schedule: events as
// Kaltura describes them (one VEVENT each) and the concrete occurrences the
// box may record. It is the vocabulary shared by the parser, the recurrence
// expander, the conflict planner, the cache and the controller; it does no
// I/O.
package schedule

import "time"

// EventType is X-KALTURA-TYPE.
type EventType int

// The event types of kaltura.md §1.
const (
	TypeRecord       EventType = 1
	TypeLive         EventType = 2
	TypeBlackout     EventType = 3
	TypeMeeting      EventType = 4
	TypeLiveRedirect EventType = 5
	TypeVOD          EventType = 6
)

// Status is X-KALTURA-STATUS.
type Status int

// The event statuses of kaltura.md §2.
const (
	StatusCancelled Status = 1
	StatusActive    Status = 2
	StatusDeleted   Status = 3
)

// Event is one VEVENT as Kaltura wrote it, after validation. Times are
// absolute instants; TZID names the IANA zone the event was written in
// ("" when it was written in UTC).
type Event struct {
	ID              int64 // X-KALTURA-ID, the key (never UID)
	ParentID        int64 // X-KALTURA-PARENT-ID; 0 for series and single events
	UID             string
	PartnerID       int64
	Type            EventType
	Status          Status
	Title           string // SUMMARY
	Description     string
	Location        string
	Priority        int
	Sequence        int
	Start, End      time.Time
	TZID            string
	OwnerID         string
	ResourceIDs     []int64
	Tags            string // X-KALTURA-TAGS as sent: comma-separated
	TemplateEntryID string
	EntryIDs        []string
	CategoryIDs     []int64
	RRule           string    // RRULE with the non-standard NAME part removed; "" when none
	Updated         time.Time // DTSTAMP
	// RRuleName is the value of Kaltura's non-standard RRULE NAME part,
	// kept aside for display; "" when none.
	RRuleName string
}

// IsOccurrence reports whether the event is a concrete occurrence of a series.
func (e Event) IsOccurrence() bool { return e.ParentID != 0 }

// IsSeries reports whether the event is a series (it carries an RRULE and is
// not itself an occurrence).
func (e Event) IsSeries() bool { return e.RRule != "" && e.ParentID == 0 }

// Occurrence is one concrete instance in the box's schedule: a single event,
// an occurrence Kaltura sent, or an instance the box expanded from a series.
type Occurrence struct {
	// Key identifies the occurrence in the box: the decimal X-KALTURA-ID for
	// events Kaltura sent, "<seriesID>@<start as 20060102T150405Z>" for
	// instances the box expanded itself.
	Key string
	// EventID is the X-KALTURA-ID of the concrete event, or 0 for an instance
	// the box expanded from a series.
	EventID  int64
	ParentID int64 // the series id, or 0

	Type            EventType
	Status          Status
	Title           string
	Description     string
	Priority        int
	Start, End      time.Time
	TZID            string
	ResourceIDs     []int64
	Tags            string
	TemplateEntryID string
	CategoryIDs     []int64
	Updated         time.Time
}

// ReferenceID is the Kaltura event id that recordings of this occurrence
// carry as the entry's referenceId: the concrete event id, or the series id
// for an instance the box expanded.
func (o Occurrence) ReferenceID() int64 {
	if o.EventID != 0 {
		return o.EventID
	}
	return o.ParentID
}
