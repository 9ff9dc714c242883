// Package icalparse reads the iCalendar that Kaltura's
// schedule_scheduleevent.list (format=ical) and its FTP front produce, with
// all their quirks (kaltura.md §1, §7), into schedule.Event values.
//
// Parsing has two steps. A tolerant prepass (see Prepass) repairs what
// Kaltura gets wrong: mixed line endings, raw newlines and unescaped
// , ; \ inside text, no PRODID or VERSION, a non-standard NAME part in
// RRULE, a wrong VTIMEZONE (dropped: TZIDs are resolved through the IANA
// database with time.LoadLocation), VERROR blocks. Then the VEVENTs are
// decoded by github.com/emersion/go-ical, a few dozen to a decoder (go-ical
// reads each component on its own, so an event decodes as it would alone;
// when a group fails, its events are decoded one by one), and each is
// validated against the X-KALTURA-* formats of seed-scheduling-api.md.
//
// Parse and ParseBytes are safe for concurrent use. For a page already in
// memory, ParseBytes saves a copy of it.
//
// One bad event never fails the calendar: it is left out, logged, and
// listed in Calendar.Rejected with its line and the reason. The whole
// parse fails only when the input is not a calendar, is truncated (no
// END:VCALENDAR, so the list is incomplete), is larger than the limit, or
// carries a Kaltura API error (a *KalturaError).
//
// Accepted side by side: UTC and TZID date forms (even within one
// calendar), the legacy format (STATUS:<int>, DURATION with or without
// DTEND, no UID), the 2024-25 format with PRODID/VERSION, and the FTP form
// (one VEVENT per file, wrapper lines ending in LF, no X-KALTURA-TOTAL-COUNT).
package icalparse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"time"

	ical "github.com/emersion/go-ical"
	rrule "github.com/teambition/rrule-go"

	"github.com/capturebox/capturebox/sync/schedule"
)

// Defaults for Options. A complete Kaltura listing (10,000 events, the
// most the server lists; kaltura.md §2) is about 5 MB and one API page of
// 500 events about 250 kB: 16 MiB leaves room for long descriptions while
// the parse of the largest input stays within the box's memory budget
// (scripts/bench-schedule.sh measures it).
const (
	DefaultMaxBytes     = 16 << 20 // 16 MiB
	DefaultMaxLineBytes = 1 << 20  // 1 MiB for one unfolded line
	DefaultMaxEvents    = 10000    // the most events a listing holds
)

// Limits of the validation (seed-scheduling-api.md, kaltura.md §8).
const (
	MaxTagsBytes    = 65000 // X-KALTURA-TAGS must be shorter than this
	MaxEventLength  = 24 * time.Hour
	entryIDLength   = 10
	maxQuotedLength = 40 // longest value quoted in a rejection reason
)

// Options tune Parse and Prepass. The zero value is usable.
type Options struct {
	// MaxBytes bounds the whole input; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxLineBytes bounds one unfolded line; a longer line rejects the
	// event it is in. 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxEvents bounds the VEVENTs of one calendar; more fail the parse
	// with ErrTooManyEvents before any is decoded. 0 means
	// DefaultMaxEvents.
	MaxEvents int
	// Logger receives one warning per rejected event; nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Calendar is a parsed Kaltura calendar.
type Calendar struct {
	// Events are the valid VEVENTs in the order they appeared.
	Events []schedule.Event
	// TotalCount is X-KALTURA-TOTAL-COUNT (the list's total before
	// paging), or -1 when absent or unreadable (always so on FTP).
	TotalCount int
	// Rejected lists the events left out, in order.
	Rejected []Rejection
}

// Rejection is one VEVENT left out of the calendar.
type Rejection struct {
	EventID int64  // X-KALTURA-ID when it could be read, else 0
	Line    int    // line of the event's BEGIN:VEVENT (1-based)
	Reason  string // why; never holds a secret
}

// Parse reads a Kaltura calendar from r. See the package documentation.
// Reading stops at the size limit: a file (anything with Stat) or a reader
// that tells its length and is larger is refused before a byte is read,
// and any other reader is read to at most MaxBytes+1.
func Parse(r io.Reader, opts Options) (*Calendar, error) {
	opts = opts.withDefaults()
	if size, ok := knownSize(r); ok && size > opts.MaxBytes {
		return nil, ErrTooLarge
	}
	data, err := readAll(r, opts.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("icalparse: read: %w", err)
	}
	if int64(len(data)) > opts.MaxBytes {
		return nil, ErrTooLarge
	}
	return parse(data, opts)
}

// ParseBytes is Parse for a calendar already in memory (a fetched page):
// it saves Parse's copy of the input. data is neither modified nor kept.
func ParseBytes(data []byte, opts Options) (*Calendar, error) {
	opts = opts.withDefaults()
	if int64(len(data)) > opts.MaxBytes {
		return nil, ErrTooLarge
	}
	return parse(data, opts)
}

// knownSize returns the number of bytes r holds when r can tell: a file
// (Stat of a regular file; what was read already is not known, so the
// whole size: a file already partly read is refused a little early) or a
// bytes.Reader, strings.Reader or bytes.Buffer (Len).
func knownSize(r io.Reader) (int64, bool) {
	if l, ok := r.(interface{ Len() int }); ok {
		return int64(l.Len()), true
	}
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size(), true
		}
	}
	return 0, false
}

// readAll reads r up to limit+1 bytes, sized at once when r tells its
// length. The buffer never grows past limit+1, so an input beyond the
// limit costs at most limit+1 bytes, not the doubling after it.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	size := int64(512)
	if n, ok := knownSize(r); ok {
		size = min(n, limit) + 1
	}
	b := make([]byte, 0, size)
	lr := io.LimitReader(r, limit+1)
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			if int64(len(b)) > limit {
				return b, nil
			}
			nb := make([]byte, len(b), min(int64(2*cap(b)), limit+1))
			copy(nb, b)
			b = nb
		}
	}
}

func parse(data []byte, opts Options) (*Calendar, error) {
	doc, err := prepass(data, opts.MaxLineBytes)
	if doc != nil && len(doc.verrors) > 0 {
		return nil, verror(doc.verrors[0])
	}
	if err != nil {
		return nil, err
	}
	if len(doc.events) > opts.MaxEvents {
		return nil, fmt.Errorf("%w: %d events, the limit is %d", ErrTooManyEvents, len(doc.events), opts.MaxEvents)
	}
	p := parser{opts: opts, zones: map[string]*time.Location{}}
	p.br = bufio.NewReaderSize(&p.rd, decodeBufferSize)
	cal := &Calendar{TotalCount: -1, Events: make([]schedule.Event, 0, len(doc.events)), Rejected: []Rejection{}}
	for _, l := range doc.calProps {
		if l.name != "X-KALTURA-TOTAL-COUNT" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(l.value))
		if err != nil || n < 0 {
			opts.Logger.Warn("icalparse: unreadable X-KALTURA-TOTAL-COUNT", "line", int(l.num))
			continue
		}
		cal.TotalCount = n
	}
	for start := 0; start < len(doc.events); start += decodeChunk {
		chunk := doc.events[start:min(start+decodeChunk, len(doc.events))]
		comps, errs := p.decodeChunk(chunk)
		for i, b := range chunk {
			p.add(cal, b, comps[i], errs[i])
		}
	}
	return cal, nil
}

// add validates one decoded block and adds it to the events or, with the
// reasons, to the rejections.
func (p *parser) add(cal *Calendar, b *block, comp *ical.Component, derr error) {
	ev, reasons := p.event(b, comp, derr)
	if len(reasons) == 0 {
		cal.Events = append(cal.Events, ev)
		return
	}
	rej := Rejection{Line: b.line, Reason: strings.Join(reasons, "; ")}
	if id, err := strconv.ParseInt(b.id, 10, 64); err == nil && id > 0 {
		rej.EventID = id
	}
	p.opts.Logger.Warn("icalparse: event rejected", "event_id", rej.EventID, "line", rej.Line, "reason", rej.Reason)
	cal.Rejected = append(cal.Rejected, rej)
}

func verror(b *block) *KalturaError {
	ke := &KalturaError{}
	for _, l := range b.lines {
		if l == nil {
			continue
		}
		v := strings.Clone(strings.TrimSpace(l.value)) // not a view of the page
		switch l.name {
		case "X-KALTURA-CODE":
			ke.Code = v
		case "X-KALTURA-MESSAGE":
			ke.Message = v
		case "X-KALTURA-ARGUMENTS":
			if v != "" {
				ke.Args = strings.Split(v, ";")
			}
		}
	}
	return ke
}

// decodeBufferSize is the size of the bufio.Reader given to go-ical: its
// default, so that ical.NewDecoder uses the reader as it is instead of
// wrapping it in a new one.
const decodeBufferSize = 4096

type parser struct {
	opts  Options
	zones map[string]*time.Location
	// Reused for every event of the calendar.
	text bytes.Buffer  // the normalised event
	rd   bytes.Reader  // reads text
	br   *bufio.Reader // reads rd, for go-ical
}

// decodeChunk is how many events are decoded together.
const decodeChunk = 32

// decodeChunk decodes the events of bs: comps[i] is the VEVENT of bs[i],
// or errs[i] says why it could not be decoded (broken blocks are not
// decoded). The events that are not broken are rendered one after the
// other inside one VCALENDAR and decoded by one go-ical decoder: go-ical
// reads each component on its own (every rendered line is one physical
// line, and no line starts with a space or tab, so nothing runs from one
// event into the next), so each VEVENT is what decoding it alone gives.
// When the chunk does not decode, the events are decoded one by one, so
// that one bad event is rejected alone, with its own error.
func (p *parser) decodeChunk(bs []*block) ([]*ical.Component, []error) {
	comps := make([]*ical.Component, len(bs))
	errs := make([]error, len(bs))
	p.text.Reset()
	p.text.WriteString("BEGIN:VCALENDAR\r\n")
	n := 0
	for _, b := range bs {
		if len(b.broken) == 0 {
			writeEventBody(&p.text, b)
			n++
		}
	}
	p.text.WriteString("END:VCALENDAR\r\n")
	if n > 1 {
		if cal, err := p.decodeCalendar(p.text.Bytes()); err == nil && len(cal.Children) == n {
			k := 0
			for i, b := range bs {
				if len(b.broken) == 0 {
					comps[i] = cal.Children[k]
					k++
				}
			}
			if allEvents(cal.Children) {
				return comps, errs
			}
		}
	}
	for i, b := range bs {
		if len(b.broken) == 0 {
			comps[i], errs[i] = p.decode(eventText(&p.text, b))
		}
	}
	return comps, errs
}

func allEvents(cs []*ical.Component) bool {
	for _, c := range cs {
		if c.Name != ical.CompEvent {
			return false
		}
	}
	return true
}

// decodeCalendar runs go-ical on a normalised calendar. go-ical panics on
// some malformed input; the prepass prevents that, and recover is the
// backstop. The reader under the decoder is reused (ical.NewDecoder keeps
// a *bufio.Reader of the default size as it is).
func (p *parser) decodeCalendar(text []byte) (cal *ical.Calendar, err error) {
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("go-ical failed: %v", r)
		}
	}()
	p.rd.Reset(text)
	p.br.Reset(&p.rd)
	return ical.NewDecoder(p.br).Decode()
}

// decode runs go-ical on one normalised event (a VEVENT in a VCALENDAR).
func (p *parser) decode(text []byte) (comp *ical.Component, err error) {
	cal, err := p.decodeCalendar(text)
	if err != nil {
		return nil, err
	}
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no VEVENT")
}

// event validates one block and its decoded VEVENT (or the error of its
// decoding); a non-empty reasons rejects it.
func (p *parser) event(b *block, comp *ical.Component, err error) (ev schedule.Event, reasons []string) {
	if len(b.broken) > 0 {
		return ev, b.broken
	}
	if err != nil {
		return ev, []string{err.Error()}
	}
	fail := func(format string, a ...any) { reasons = append(reasons, fmt.Sprintf(format, a...)) }
	props := comp.Props

	// text returns a TEXT property as Kaltura sent it.
	text := func(name string) (string, bool) {
		prop := get(props, name)
		if prop == nil {
			return "", false
		}
		s, err := textValue(prop)
		if err != nil {
			fail("%s: %v", name, err)
			return "", false
		}
		return s, true
	}
	integer := func(name string, min int64) (int64, bool) {
		s, ok := text(name)
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < min {
			fail("%s: %s is not an integer ≥ %d", name, quote(s), min)
			return 0, false
		}
		return n, true
	}
	intList := func(name string) []int64 {
		s, ok := text(name)
		if !ok || strings.TrimSpace(s) == "" {
			return nil
		}
		var out []int64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n <= 0 {
				fail("%s: %s is not a comma list of positive integers", name, quote(s))
				return nil
			}
			out = append(out, n)
		}
		return out
	}

	var ok bool
	if ev.ID, ok = integer("X-KALTURA-ID", 1); !ok && get(props, "X-KALTURA-ID") == nil {
		fail("X-KALTURA-ID missing")
	}
	ev.PartnerID, _ = integer("X-KALTURA-PARTNER-ID", 1)
	ev.ParentID, _ = integer("X-KALTURA-PARENT-ID", 0)
	if t, ok := integer("X-KALTURA-TYPE", 1); ok {
		ev.Type = schedule.EventType(t)
	} else if get(props, "X-KALTURA-TYPE") == nil {
		fail("X-KALTURA-TYPE missing")
	}
	ev.Status = p.status(props, fail)
	ev.CategoryIDs = intList("X-KALTURA-CATEGORY-IDS")
	ev.ResourceIDs = intList("X-KALTURA-RESOURCE-IDS")
	if s, ok := text("X-KALTURA-ENTRY-IDS"); ok && strings.TrimSpace(s) != "" {
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if !validEntryID(f) {
				fail("X-KALTURA-ENTRY-IDS: %s is not exactly %d characters of [0-9a-z_]", quote(f), entryIDLength)
				break
			}
			ev.EntryIDs = append(ev.EntryIDs, f)
		}
	}
	if s, ok := text("X-KALTURA-TEMPLATE-ENTRY-ID"); ok {
		s = strings.TrimSpace(s)
		if !validEntryID(s) {
			fail("X-KALTURA-TEMPLATE-ENTRY-ID: %s is not exactly %d characters of [0-9a-z_]", quote(s), entryIDLength)
		}
		ev.TemplateEntryID = s
	}
	if s, ok := text("X-KALTURA-TAGS"); ok {
		if len(s) >= MaxTagsBytes {
			fail("X-KALTURA-TAGS: %d bytes, the limit is under %d", len(s), MaxTagsBytes)
		}
		ev.Tags = s
	}
	ev.OwnerID, _ = text("X-KALTURA-OWNER-ID")
	ev.UID, _ = text(ical.PropUID)
	ev.Title, _ = text(ical.PropSummary)
	ev.Description, _ = text(ical.PropDescription)
	ev.Location, _ = text(ical.PropLocation)
	if prop := get(props, ical.PropPriority); prop != nil {
		n, err := prop.Int()
		if err != nil || n < 0 || n > 9 {
			fail("PRIORITY: %s is not 0-9", quote(prop.Value))
		}
		ev.Priority = n
	}
	if prop := get(props, ical.PropSequence); prop != nil {
		n, err := prop.Int()
		if err != nil || n < 0 {
			fail("SEQUENCE: %s is not a non-negative integer", quote(prop.Value))
		}
		ev.Sequence = n
	}
	if prop := get(props, ical.PropDateTimeStamp); prop != nil {
		if t, _, err := p.dateTime(prop); err == nil {
			ev.Updated = t.UTC()
		}
	}

	// Times.
	startProp := get(props, ical.PropDateTimeStart)
	if startProp == nil {
		fail("DTSTART missing")
	} else if t, tzid, err := p.dateTime(startProp); err != nil {
		fail("DTSTART: %v", err)
	} else {
		ev.Start, ev.TZID = t.UTC(), tzid
	}
	switch endProp, durProp := get(props, ical.PropDateTimeEnd), get(props, ical.PropDuration); {
	case endProp != nil:
		// DTEND wins: the legacy format writes DURATION beside it.
		if t, _, err := p.dateTime(endProp); err != nil {
			fail("DTEND: %v", err)
		} else {
			ev.End = t.UTC()
		}
	case durProp != nil:
		d, err := durProp.Duration()
		if err != nil {
			fail("DURATION: %s: %v", quote(durProp.Value), err)
		} else if !ev.Start.IsZero() {
			ev.End = ev.Start.Add(d)
		}
	default:
		fail("neither DTEND nor DURATION")
	}
	if !ev.Start.IsZero() && !ev.End.IsZero() {
		switch d := ev.End.Sub(ev.Start); {
		case d <= 0:
			fail("end %s is not after start %s", ev.End.Format(time.RFC3339), ev.Start.Format(time.RFC3339))
		case d > MaxEventLength:
			fail("lasts %s, more than %s", d, MaxEventLength)
		}
	}

	// Recurrence.
	if prop := get(props, ical.PropRecurrenceRule); prop != nil {
		ev.RRule = strings.TrimSpace(prop.Value)
		ev.RRuleName, _ = text(rruleNameProp)
		// An occurrence carries its series' rule but is never expanded:
		// a rule it inherited must not cost the box a concrete event.
		if ev.ParentID == 0 {
			if _, err := rrule.StrToROption(ev.RRule); err != nil {
				fail("RRULE: %v", err)
			}
		}
	}
	if len(reasons) > 0 {
		return schedule.Event{}, reasons
	}
	return ev, nil
}

// get is props.Get for a name in capitals (all of ours), without Get's
// strings.ToUpper: go-ical stores the names in capitals.
func get(props ical.Props, name string) *ical.Prop {
	if l := props[name]; len(l) > 0 {
		return &l[0]
	}
	return nil
}

// textValue is prop.Text() without its copy when the value holds nothing
// to unescape (no backslash, no comma): then Text() returns the value
// itself.
func textValue(prop *ical.Prop) (string, error) {
	if t := prop.ValueType(); (t == ical.ValueDefault || t == ical.ValueText) &&
		strings.IndexByte(prop.Value, '\\') < 0 && strings.IndexByte(prop.Value, ',') < 0 {
		return prop.Value, nil
	}
	return prop.Text()
}

// status reads X-KALTURA-STATUS, falling back to STATUS (CONFIRMED,
// CANCELLED, or the legacy integer); with neither the event is active.
func (p *parser) status(props ical.Props, fail func(string, ...any)) schedule.Status {
	valid := func(n int) bool {
		return n == int(schedule.StatusCancelled) || n == int(schedule.StatusActive) || n == int(schedule.StatusDeleted)
	}
	if prop := get(props, "X-KALTURA-STATUS"); prop != nil {
		s, _ := textValue(prop)
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || !valid(n) {
			fail("X-KALTURA-STATUS: %s is not 1, 2 or 3", quote(s))
			return 0
		}
		return schedule.Status(n)
	}
	if prop := get(props, ical.PropStatus); prop != nil {
		s, _ := textValue(prop)
		s = strings.ToUpper(strings.TrimSpace(s))
		switch s {
		case "CONFIRMED", "TENTATIVE":
			return schedule.StatusActive
		case "CANCELLED":
			return schedule.StatusCancelled
		}
		if n, err := strconv.Atoi(s); err == nil && valid(n) {
			return schedule.Status(n)
		}
		fail("STATUS: %s is not CONFIRMED, CANCELLED or 1-3", quote(s))
		return 0
	}
	return schedule.StatusActive
}

// dateTime reads a DATE-TIME in UTC or with a TZID. Floating times and
// dates are refused: Kaltura writes neither, and guessing a zone could
// move a recording by hours.
func (p *parser) dateTime(prop *ical.Prop) (time.Time, string, error) {
	v := strings.TrimSpace(prop.Value)
	if prop.Params.Get(ical.ParamValue) == string(ical.ValueDate) || len(v) == len("20060102") {
		return time.Time{}, "", fmt.Errorf("date-only value %s is not supported", quote(v))
	}
	if strings.HasSuffix(v, "Z") {
		utc := ical.Prop{Name: prop.Name, Value: v} // no parameters (nil Params reads as empty)
		t, err := utc.DateTime(time.UTC)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%s is not a UTC date-time", quote(v))
		}
		return t, "", nil
	}
	tzid := prop.Params.Get(ical.PropTimezoneID)
	if tzid == "" {
		return time.Time{}, "", fmt.Errorf("floating time %s (no Z, no TZID)", quote(v))
	}
	loc, err := p.zone(tzid)
	if err != nil {
		return time.Time{}, "", err
	}
	wall, err := time.ParseInLocation("20060102T150405", v, time.UTC)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%s is not a date-time", quote(v))
	}
	return schedule.ResolveLocal(wall, loc), tzid, nil
}

// zone resolves a TZID through the IANA database, never the VTIMEZONE.
func (p *parser) zone(tzid string) (*time.Location, error) {
	if loc, ok := p.zones[tzid]; ok {
		if loc == nil {
			return nil, fmt.Errorf("unknown TZID %s", quote(tzid))
		}
		return loc, nil
	}
	loc, err := LoadZone(tzid)
	p.zones[tzid] = loc
	if err != nil {
		return nil, err
	}
	return loc, nil
}

// LoadZone resolves an IANA zone name as the parser does: "UTC" and the
// names of the IANA database; "", "Local" and paths are refused.
func LoadZone(tzid string) (*time.Location, error) {
	if tzid == "" || tzid == "Local" || len(tzid) > 64 || strings.ContainsAny(tzid, "\\:") {
		return nil, fmt.Errorf("unknown TZID %s", quote(tzid))
	}
	loc, err := time.LoadLocation(tzid)
	if err != nil {
		return nil, fmt.Errorf("unknown TZID %s", quote(tzid))
	}
	return loc, nil
}

// validEntryID reports whether s is exactly 10 characters of [0-9a-z_].
func validEntryID(s string) bool {
	if len(s) != entryIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '_') {
			return false
		}
	}
	return true
}

// quote quotes a value for a reason, shortened.
func quote(s string) string { return strconv.Quote(truncate(s, maxQuotedLength)) }
