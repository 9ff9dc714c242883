package schedule

import (
	"fmt"
	"reflect"
	"sort"
	"time"
)

// The admin API lets tests and demos shape a partner's schedule without
// going through HTTP. It applies the same rules as the API actions
// (validation, occurrence generation and regeneration, sequence numbers),
// at the store's clock.

// AddEvent adds a single event (RecurrenceType RecurrenceNone) or a series
// (RecurrenceRecurring, with Recurrence and Duration or EndDate). Type
// defaults to TypeRecord. ID, status, sequence, createdAt and updatedAt are
// assigned; OwnerID is kept as given.
func (s *Store) AddEvent(partnerID int64, e Event) (Event, error) {
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	ev := e.clone()
	if ev.Type == 0 {
		ev.Type = TypeRecord
	}
	if err := s.addLocked(p, ev, now); err != nil {
		return Event{}, fmt.Errorf("add event: %w", err)
	}
	return *ev.clone(), nil
}

// UpdateEvent edits a visible event as schedule_scheduleevent.update does:
// edit changes a copy; when the dates, duration, recurrence type or
// recurrence changed, a series' occurrences are regenerated (those whose
// dates did not change keep their ids, the others get new ids).
func (s *Store) UpdateEvent(partnerID, id int64, edit func(e *Event)) (Event, error) {
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	cur := p.getLocked(id)
	if cur == nil {
		return Event{}, fmt.Errorf("update event %d: %w", id, invalidObjectID(id))
	}
	next := cur.clone()
	edit(next)
	timeChanged := next.StartDate != cur.StartDate || next.EndDate != cur.EndDate ||
		next.Duration != cur.Duration || next.RecurrenceType != cur.RecurrenceType ||
		!reflect.DeepEqual(next.Recurrence, cur.Recurrence)
	seq := 0
	if next.Sequence != cur.Sequence {
		seq = next.Sequence
	}
	if err := s.updateLocked(p, cur, next, timeChanged, seq, now); err != nil {
		return Event{}, fmt.Errorf("update event %d: %w", id, err)
	}
	return *cur.clone(), nil
}

// CancelEvent cancels a visible event; a series loses its occurrences.
func (s *Store) CancelEvent(partnerID, id int64) (Event, error) {
	return s.adminOnEvent(partnerID, id, "cancel", func(p *partner, e *Event, now int64) error {
		s.cancelLocked(p, e, now)
		return nil
	})
}

// DeleteEvent marks a visible event DELETED; a series loses its
// occurrences; an occurrence cannot be deleted (RECURRENCE_CANT_BE_DELETE).
func (s *Store) DeleteEvent(partnerID, id int64) (Event, error) {
	return s.adminOnEvent(partnerID, id, "delete", func(p *partner, e *Event, now int64) error {
		return s.deleteLocked(p, e, now)
	})
}

// adminOnEvent runs fn on a visible event under the store's lock and
// returns a copy of the event afterwards.
func (s *Store) adminOnEvent(partnerID, id int64, verb string, fn func(p *partner, e *Event, now int64) error) (Event, error) {
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	e, err := p.visibleLocked(id)
	if err == nil {
		err = fn(p, e, now)
	}
	if err != nil {
		return Event{}, fmt.Errorf("%s event %d: %w", verb, id, err)
	}
	return *e.clone(), nil
}

// BookResource adds a resource to an event (schedule_scheduleeventresource.add).
func (s *Store) BookResource(partnerID, eventID, resourceID int64) error {
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.bookLocked(s.partnerLocked(partnerID), eventID, resourceID, now); err != nil {
		return fmt.Errorf("book resource %d on event %d: %w", resourceID, eventID, err)
	}
	return nil
}

// AddResource adds a schedule resource (Type defaults to ResourceCamera).
func (s *Store) AddResource(partnerID int64, r Resource) (Resource, error) {
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Type == 0 {
		r.Type = ResourceCamera
	}
	res := r
	if err := s.addResourceLocked(s.partnerLocked(partnerID), &res, now); err != nil {
		return Resource{}, fmt.Errorf("add resource: %w", err)
	}
	return res, nil
}

// Events returns every stored row of the partner, DELETED ones included,
// raw (occurrences not filled from their parent), in id order.
func (s *Store) Events(partnerID int64) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	out := make([]Event, 0, len(p.events))
	for _, e := range p.events {
		out = append(out, *e.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Event returns one raw row (DELETED ones included).
func (s *Store) Event(partnerID, id int64) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.partnerLocked(partnerID).events[id]
	if e == nil {
		return Event{}, false
	}
	return *e.clone(), true
}

// Occurrences returns the occurrence rows of a series, raw, in id order.
func (s *Store) Occurrences(partnerID, seriesID int64) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for _, e := range s.partnerLocked(partnerID).occurrencesLocked(seriesID) {
		out = append(out, *e.clone())
	}
	return out
}

// Resources returns the partner's resources, DELETED ones included, in id order.
func (s *Store) Resources(partnerID int64) []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	out := make([]Resource, 0, len(p.resources))
	for _, r := range p.resources {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// GenerateOptions shape the events of GenerateEvents. Zero values take the
// defaults noted.
type GenerateOptions struct {
	Every           time.Duration // start-to-start spacing; default 1 h
	Length          time.Duration // default 50 min
	Type            int           // default TypeRecord
	Summary         string        // default "Generated lecture"; " #<n>" is appended
	TemplateEntryID string
	OwnerID         string
}

// GenerateEvents creates n single ACTIVE events on resourceID quickly,
// without validation (so they may share a template entry): the first starts
// at start, the next ones every opt.Every. It returns their ids, ascending.
func (s *Store) GenerateEvents(partnerID, resourceID int64, n int, start time.Time, opt GenerateOptions) []int64 {
	if opt.Every <= 0 {
		opt.Every = time.Hour
	}
	if opt.Length <= 0 {
		opt.Length = 50 * time.Minute
	}
	if opt.Type == 0 {
		opt.Type = TypeRecord
	}
	if opt.Summary == "" {
		opt.Summary = "Generated lecture"
	}
	now := s.clock().Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.partnerLocked(partnerID)
	ids := make([]int64, 0, n)
	length := int64(opt.Length / time.Second)
	for i := 0; i < n; i++ {
		st := start.Add(time.Duration(i) * opt.Every).Unix()
		e := &Event{
			ID:                 s.nextEvent,
			PartnerID:          partnerID,
			Type:               opt.Type,
			Summary:            fmt.Sprintf("%s #%d", opt.Summary, i+1),
			Status:             StatusActive,
			StartDate:          st,
			EndDate:            st + length,
			Duration:           length,
			RecurrenceType:     RecurrenceNone,
			ClassificationType: ClassPublic,
			OwnerID:            opt.OwnerID,
			Sequence:           s.incrementVersion(1),
			CreatedAt:          now,
			UpdatedAt:          now,
			TemplateEntryID:    opt.TemplateEntryID,
		}
		if resourceID != 0 {
			e.ResourceIDs = []int64{resourceID}
		}
		s.nextEvent++
		p.events[e.ID] = e
		ids = append(ids, e.ID)
	}
	s.changed(p)
	return ids
}

// DemoOptions shape SeedDemo. Zero values take the defaults noted.
type DemoOptions struct {
	Room     string        // default "Room 101"; the camera is "<Room> Camera"
	Lectures int           // default 3
	Lead     time.Duration // first start after now; default 1 min
	Length   time.Duration // default 3 min
	Gap      time.Duration // between lectures; default 1 min
	OwnerID  string        // default "lecturer@example.edu"
}

// Demo is what SeedDemo created.
type Demo struct {
	ResourceID int64
	EventIDs   []int64
}

// SeedDemo creates one room CAMERA resource and a few short record events
// on it using templateEntryID: the first starts opt.Lead after the store's
// now, each lasts opt.Length, with opt.Gap between them.
func (s *Store) SeedDemo(partnerID int64, templateEntryID string, opt DemoOptions) (Demo, error) {
	if opt.Room == "" {
		opt.Room = "Room 101"
	}
	if opt.Lectures <= 0 {
		opt.Lectures = 3
	}
	if opt.Lead <= 0 {
		opt.Lead = time.Minute
	}
	if opt.Length <= 0 {
		opt.Length = 3 * time.Minute
	}
	if opt.Gap <= 0 {
		opt.Gap = time.Minute
	}
	if opt.OwnerID == "" {
		opt.OwnerID = "lecturer@example.edu"
	}
	res, err := s.AddResource(partnerID, Resource{
		Type:       ResourceCamera,
		Name:       opt.Room + " Camera",
		SystemName: systemName(opt.Room + " camera"),
		Tags:       "capturebox,demo",
	})
	if err != nil {
		return Demo{}, fmt.Errorf("seed demo: %w", err)
	}
	d := Demo{ResourceID: res.ID}
	start := s.clock().Truncate(time.Second).Add(opt.Lead)
	for i := 0; i < opt.Lectures; i++ {
		st := start.Add(time.Duration(i) * (opt.Length + opt.Gap))
		ev, err := s.AddEvent(partnerID, Event{
			Type:            TypeRecord,
			Summary:         fmt.Sprintf("Demo lecture %d", i+1),
			Description:     "Seeded by the Kaltura simulator",
			StartDate:       st.Unix(),
			EndDate:         st.Add(opt.Length).Unix(),
			RecurrenceType:  RecurrenceNone,
			OwnerID:         opt.OwnerID,
			TemplateEntryID: templateEntryID,
			ResourceIDs:     []int64{res.ID},
		})
		if err != nil {
			return d, fmt.Errorf("seed demo: %w", err)
		}
		d.EventIDs = append(d.EventIDs, ev.ID)
	}
	return d, nil
}

func systemName(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		case r >= 'A' && r <= 'Z':
			out = append(out, r+'a'-'A')
		default:
			if len(out) > 0 && out[len(out)-1] != '-' {
				out = append(out, '-')
			}
		}
	}
	return string(out)
}
