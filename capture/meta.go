package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Meta describes what a recording is of, typed from the schedule event to
// the Kaltura entry: the recorder stores it in the sidecar, checks it when
// the recording starts and whenever the sidecar is read, and the firmware
// maps it field by field to the upload queue's item. Nothing in it is a
// string to be parsed again.
type Meta struct {
	// EventID is the Kaltura schedule event id (X-KALTURA-ID, or the
	// parent's for an occurrence): the entry's referenceId. 0 marks an
	// ad-hoc recording.
	EventID int64 `json:"eventId,omitempty"`
	// ResourceIDs are the schedule resources the event is on.
	ResourceIDs []int64 `json:"resourceIds,omitempty"`
	// TemplateEntryID is the Kaltura template entry the upload uses; empty
	// uses the configured default (ad-hoc recordings).
	TemplateEntryID string `json:"templateEntryId,omitempty"`
	// Title is the event's summary, or the room and time of an ad-hoc
	// recording.
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Tags        string  `json:"tags,omitempty"` // comma-separated, as Kaltura sends them
	CategoryIDs []int64 `json:"categoryIds,omitempty"`
	// Start and End are the planned span (the event's DTSTART and DTEND,
	// with padding); zero for an ad-hoc recording.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// Part numbers the recordings of one event from 1: an event stopped
	// early and resumed has a second part.
	Part int `json:"part,omitempty"`
	// Gaps are the stretches of the planned span missing from the file of
	// a joined recording (Join): the box was stopped, crashed or out of
	// space in between.
	Gaps []Span `json:"gaps,omitempty"`
}

// AdHoc reports whether the recording belongs to no schedule event.
func (m Meta) AdHoc() bool { return m.EventID == 0 }

// maxText bounds the free-text fields (Kaltura's own limits are lower).
const maxText = 64 << 10

// Validate checks m: an event recording has a positive event id, a planned
// span that ends after it starts and a part number from 1; ids are
// positive; texts are UTF-8 and bounded; gaps are ordered.
func (m Meta) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case m.EventID < 0:
		bad("event id %d is negative", m.EventID)
	case m.EventID > 0:
		if m.Start.IsZero() || m.End.IsZero() {
			bad("event %d has no planned span", m.EventID)
		} else if !m.End.After(m.Start) {
			bad("event %d ends (%s) before it starts (%s)", m.EventID, m.End.Format(time.RFC3339), m.Start.Format(time.RFC3339))
		}
		if m.Part < 1 {
			bad("event %d: part %d, want 1 or more", m.EventID, m.Part)
		}
	default:
		if m.Part < 0 {
			bad("part %d is negative", m.Part)
		}
		if !m.Start.IsZero() && !m.End.IsZero() && m.End.Before(m.Start) {
			bad("span ends before it starts")
		}
	}
	for _, id := range m.ResourceIDs {
		if id <= 0 {
			bad("resource id %d is not positive", id)
		}
	}
	for _, id := range m.CategoryIDs {
		if id <= 0 {
			bad("category id %d is not positive", id)
		}
	}
	for name, s := range map[string]string{"title": m.Title, "description": m.Description, "tags": m.Tags, "template entry id": m.TemplateEntryID} {
		if len(s) > maxText {
			bad("%s is %d bytes long", name, len(s))
		} else if !utf8.ValidString(s) {
			bad("%s is not UTF-8", name)
		}
	}
	for i, g := range m.Gaps {
		if g.End.Before(g.Start) || (i > 0 && g.Start.Before(m.Gaps[i-1].End)) {
			bad("gap %d is out of order", i+1)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidMeta, errors.Join(errs...))
	}
	return nil
}

// ErrInvalidMeta: a recording's metadata does not pass Meta.Validate.
var ErrInvalidMeta = errors.New("invalid recording metadata")

// UnmarshalJSON reads Meta as written, and also the form written before the
// metadata was typed (event id as a string; description, tags and
// categories in "extra"), strictly: a value that does not parse is an
// error, never dropped.
func (m *Meta) UnmarshalJSON(b []byte) error {
	type plain Meta
	var raw struct {
		plain
		EventID json.RawMessage   `json:"eventId"`
		Extra   map[string]string `json:"extra"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	*m = Meta(raw.plain)
	m.EventID = 0
	if len(raw.EventID) > 0 && string(raw.EventID) != "null" {
		var s string
		if raw.EventID[0] == '"' { // the older, string form
			if err := json.Unmarshal(raw.EventID, &s); err != nil {
				return fmt.Errorf("eventId: %w", err)
			}
		} else {
			s = string(raw.EventID)
		}
		if s != "" {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("eventId %q: not an event id", s)
			}
			m.EventID = id
		}
	}
	for k, v := range raw.Extra {
		switch k {
		case "description":
			m.Description = v
		case "tags":
			m.Tags = v
		case "categories":
			ids, err := parseIDs(v)
			if err != nil {
				return fmt.Errorf("extra.categories: %w", err)
			}
			m.CategoryIDs = ids
		}
	}
	return nil
}

// parseIDs parses a comma-separated id list; any bad id is an error.
func parseIDs(s string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an id", strings.TrimSpace(f))
		}
		out = append(out, id)
	}
	return out, nil
}

// SidecarError is a recording whose sidecar cannot be trusted: missing,
// unreadable, or with metadata that fails Validate. The recording's file is
// kept on the box and is not uploaded: without its metadata it would reach
// Kaltura without its event. Error() is the text for the log and console.
type SidecarError struct {
	ID   string
	Path string
	Err  error
}

func (e *SidecarError) Error() string {
	return fmt.Sprintf("recording %s: sidecar %s cannot be trusted (%v); the recording is kept on the box and not uploaded", e.ID, e.Path, e.Err)
}

func (e *SidecarError) Unwrap() error { return e.Err }
