package schedule

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
)

// The iCal writer reproduces KalturaICalSerializer and kSchedulingICal*:
// NAME:VALUE lines ended by CRLF, no folding, no escaping, properties written
// only when truthy, in the order of kaltura.md §1.

const (
	utcLayout   = "20060102T150405Z"
	localLayout = "20060102T150405"
)

type icalWriter struct{ b bytes.Buffer }

func (w *icalWriter) line(name, value string) {
	w.b.WriteString(name)
	w.b.WriteByte(':')
	w.b.WriteString(value)
	w.b.WriteString("\r\n")
}

// field writes name:value only when value is truthy (PHP: non-empty and not "0").
func (w *icalWriter) field(name, value string) {
	if value == "" || value == "0" {
		return
	}
	w.line(name, value)
}

func (w *icalWriter) intField(name string, v int64) {
	if v != 0 {
		w.line(name, strconv.FormatInt(v, 10))
	}
}

// ICalError writes the VERROR calendar that format=ical returns for an API
// exception: BEGIN:VCALENDAR, BEGIN:VERROR, X-KALTURA-CODE,
// X-KALTURA-MESSAGE, X-KALTURA-ARGUMENTS (the argument values joined with
// ';', left out when there are none), END:VERROR, END:VCALENDAR.
func ICalError(e *kapi.Exception) []byte {
	var w icalWriter
	w.line("BEGIN", "VCALENDAR")
	w.line("BEGIN", "VERROR")
	w.line("X-KALTURA-CODE", e.Code)
	w.line("X-KALTURA-MESSAGE", e.Message)
	vals := make([]string, len(e.Args))
	for i, a := range e.Args {
		vals[i] = a.Value
	}
	w.field("X-KALTURA-ARGUMENTS", strings.Join(vals, ";"))
	w.line("END", "VERROR")
	w.line("END", "VCALENDAR")
	return w.b.Bytes()
}

// ICal implements kapi.ICal: the calendar of one page, with
// X-KALTURA-TOTAL-COUNT (the total before paging) before END:VCALENDAR.
func (r *ListResponse) ICal() []byte {
	total := r.TotalCount
	return writeCalendar(r.Objects, r.cal, &total)
}

// ICal implements kapi.ICal: a calendar holding the one event.
func (r *EventResponse) ICal() []byte {
	return writeCalendar([]EventView{r.EventView}, r.cal, nil)
}

func writeCalendar(events []EventView, cal calOptions, total *int) []byte {
	var w icalWriter
	w.line("BEGIN", "VCALENDAR")
	if cal.prodID != "" {
		w.line("PRODID", "-//Kaltura Inc//Kaltura Server "+cal.prodID+"//EN")
		w.line("VERSION", "2.0")
	}
	if !cal.legacy && !cal.noVTimezone {
		writeVTimezone(&w, events)
	}
	for i := range events {
		writeVEvent(&w, &events[i], cal.legacy)
	}
	if total != nil {
		w.line("X-KALTURA-TOTAL-COUNT", strconv.Itoa(*total))
	}
	w.line("END", "VCALENDAR")
	return w.b.Bytes()
}

// VEvent returns the event's BEGIN:VEVENT … END:VEVENT block, each line
// ended by CRLF, in the current format or, with legacy, in the format of
// FEATURE_DISABLE_NEW_ICAL_STANDARD.
func (v *EventView) VEvent(legacy bool) []byte {
	var w icalWriter
	writeVEvent(&w, v, legacy)
	return w.b.Bytes()
}

// GeneratedUID is the UUID-shaped UID the new format writes for an event
// without a referenceId: the first 32 hex digits of sha1 of the decimal id.
func GeneratedUID(id int64) string {
	sum := sha1.Sum([]byte(strconv.FormatInt(id, 10)))
	h := hex.EncodeToString(sum[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// formatDuration writes seconds as PT{h}H{m}M{s}S.
func formatDuration(sec int64) string {
	return fmt.Sprintf("PT%dH%dM%dS", sec/3600, sec%3600/60, sec%60)
}

func formatFloat(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func utc(t int64) string { return time.Unix(t, 0).UTC().Format(utcLayout) }

var classNames = map[int]string{ClassPublic: "PUBLIC", ClassPrivate: "PRIVATE", ClassConfidential: "CONFIDENTIAL"}

func writeVEvent(w *icalWriter, v *EventView, legacy bool) {
	e := &v.Event
	w.line("BEGIN", "VEVENT")
	// 1. UID
	switch {
	case e.ReferenceID != "":
		w.line("UID", e.ReferenceID)
	case !legacy:
		w.line("UID", GeneratedUID(e.ID))
	}
	// 2.
	w.field("SUMMARY", e.Summary)
	w.field("DESCRIPTION", e.Description)
	if legacy {
		w.intField("STATUS", int64(e.Status))
	} else if e.Status == StatusActive {
		w.line("STATUS", "CONFIRMED")
	} else {
		w.line("STATUS", "CANCELLED")
	}
	w.field("GEOLATITUDE", formatFloat(e.GeoLatitude))
	w.field("GEOLONGITUDE", formatFloat(e.GeoLongitude))
	loc := e.Location
	if loc == "" && !legacy {
		loc = strings.Join(v.ResourceNames, ",")
	}
	w.field("LOCATION", loc)
	w.intField("PRIORITY", int64(e.Priority))
	w.intField("SEQUENCE", int64(e.Sequence))
	if e.Duration != 0 && (legacy || e.EndDate == 0) {
		w.line("DURATION", formatDuration(e.Duration))
	}
	w.field("CONTACT", e.Contact)
	w.field("COMMENT", e.Comment)
	w.field("ORGANIZER", e.Organizer)
	// 3. DTSTART, DTEND: local time with TZID when the recurrence names an
	// IANA zone (new format only), otherwise UTC.
	tz := e.Recurrence.location()
	if legacy {
		tz = nil
	}
	date := func(name string, t int64) {
		if t == 0 {
			return
		}
		if tz != nil {
			w.line(name+";TZID="+e.Recurrence.TimeZone, time.Unix(t, 0).In(tz).Format(localLayout))
		} else {
			w.line(name, utc(t))
		}
	}
	date("DTSTART", e.StartDate)
	date("DTEND", e.EndDate)
	// 4.
	w.field("CLASS", classNames[e.ClassificationType])
	// 5. always
	w.line("DTSTAMP", utc(e.UpdatedAt))
	w.line("X-KALTURA-ID", strconv.FormatInt(e.ID, 10))
	w.line("X-KALTURA-TYPE", strconv.Itoa(e.Type))
	w.line("X-KALTURA-PARTNER-ID", strconv.FormatInt(e.PartnerID, 10))
	w.line("X-KALTURA-STATUS", strconv.Itoa(e.Status))
	w.line("X-KALTURA-OWNER-ID", e.OwnerID)
	// 6. occurrences
	if e.ParentID != 0 {
		w.line("X-KALTURA-PARENT-ID", strconv.FormatInt(e.ParentID, 10))
		w.field("X-KALTURA-PARENT-UID", v.ParentReferenceID)
	}
	// 7.
	w.field("X-KALTURA-RESOURCE-IDS", joinInts(e.ResourceIDs))
	w.field("X-KALTURA-TAGS", e.Tags)
	// 8. entry events
	if isEntryEvent(e.Type) {
		w.field("X-KALTURA-TEMPLATE-ENTRY-ID", e.TemplateEntryID)
		w.field("X-KALTURA-ENTRY-IDS", e.EntryIDs)
		w.field("X-KALTURA-CATEGORY-IDS", e.CategoryIDs)
		w.field("RELATED-TO", strings.Join(v.CategoryFullIDs, ";"))
	}
	// 9. RRULE, last
	if r := e.Recurrence; r != nil {
		w.field("RRULE", rruleValue(r))
	}
	w.line("END", "VEVENT")
}

// rruleValue writes kSchedulingICalRule: FREQ, UNTIL (UTC), NAME, COUNT,
// INTERVAL, BYSECOND … BYSETPOS, WKST, each only when truthy.
func rruleValue(r *Recurrence) string {
	var parts []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			parts = append(parts, k+"="+v)
		}
	}
	add("FREQ", freqNames[r.Frequency])
	if r.Until != 0 {
		add("UNTIL", utc(r.Until))
	}
	add("NAME", r.Name)
	add("COUNT", strconv.Itoa(r.Count))
	add("INTERVAL", strconv.Itoa(r.Interval))
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
	return strings.Join(parts, ";")
}

// ---- VTIMEZONE, with the bugs of dateUtils (kaltura.md §1)

// writeVTimezone writes one VTIMEZONE for every zone used by the events:
// the lines of all zones are merged into one block and de-duplicated
// (array_unique), DTSTART is the UTC instant of the transition written
// without Z, BYDAY is always -1 and the offsets are floored.
func writeVTimezone(w *icalWriter, events []EventView) {
	var zones []string
	years := map[string]int{}
	for i := range events {
		e := &events[i].Event
		if e.Recurrence.location() == nil {
			continue
		}
		name := e.Recurrence.TimeZone
		if _, ok := years[name]; !ok {
			zones = append(zones, name)
			years[name] = time.Unix(e.StartDate, 0).UTC().Year()
		}
	}
	if len(zones) == 0 {
		return
	}
	var lines []string
	seen := map[string]bool{}
	for _, z := range zones {
		for _, l := range zoneLines(z, years[z]) {
			if !seen[l] {
				seen[l] = true
				lines = append(lines, l)
			}
		}
	}
	w.line("BEGIN", "VTIMEZONE")
	for _, l := range lines {
		w.b.WriteString(l)
		w.b.WriteString("\r\n")
	}
	w.line("END", "VTIMEZONE")
}

// transitions returns the instants in year where loc changes offset.
func transitions(loc *time.Location, year int) []time.Time {
	var out []time.Time
	t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, time.UTC)
	_, prev := t.In(loc).Zone()
	for step := t.Add(time.Hour); !step.After(end); step = step.Add(time.Hour) {
		if _, off := step.In(loc).Zone(); off != prev {
			// binary search the exact second within the hour
			lo, hi := step.Add(-time.Hour), step
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2)
				if _, o := mid.In(loc).Zone(); o == prev {
					lo = mid
				} else {
					hi = mid
				}
			}
			out = append(out, hi)
			prev = off
		}
	}
	return out
}

// formatOffset is dateUtils::formatOffset: hours floored, so −3:30 is -0430.
func formatOffset(sec int) string {
	h := sec / 3600
	if sec < 0 && sec%3600 != 0 {
		h-- // floor
	}
	m := sec % 3600
	if m < 0 {
		m = -m
	}
	m /= 60
	sign := "+"
	if h < 0 {
		sign = "-"
		h = -h
	}
	return fmt.Sprintf("%s%02d%02d", sign, h, m)
}

var weekdayCodes = [...]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

var zoneCache sync.Map // "name/year" -> []string

func zoneLines(name string, year int) []string {
	key := name + "/" + strconv.Itoa(year)
	if v, ok := zoneCache.Load(key); ok {
		return v.([]string)
	}
	lines := buildZoneLines(name, loadLocation(name), year)
	zoneCache.Store(key, lines)
	return lines
}

func buildZoneLines(name string, loc *time.Location, year int) []string {
	lines := []string{"TZID:" + name}
	ts := transitions(loc, year)
	if len(ts) == 0 {
		abbr, off := time.Date(year, 1, 1, 0, 0, 0, 0, loc).Zone()
		return append(lines,
			"BEGIN:STANDARD",
			"TZOFFSETFROM:"+formatOffset(off),
			"TZOFFSETTO:"+formatOffset(off),
			"TZNAME:"+abbr,
			"DTSTART:"+time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Format(localLayout),
			"END:STANDARD")
	}
	for _, t := range ts {
		_, from := t.Add(-time.Second).In(loc).Zone()
		abbr, to := t.In(loc).Zone()
		kind := "STANDARD"
		if t.In(loc).IsDST() {
			kind = "DAYLIGHT"
		}
		u := t.UTC()
		lines = append(lines,
			"BEGIN:"+kind,
			"TZOFFSETFROM:"+formatOffset(from),
			"TZOFFSETTO:"+formatOffset(to),
			"TZNAME:"+abbr,
			"DTSTART:"+u.Format(localLayout),
			fmt.Sprintf("RRULE:FREQ=YEARLY;BYMONTH=%d;BYDAY=-1%s", int(u.Month()), weekdayCodes[u.Weekday()]),
			"END:"+kind)
	}
	return lines
}
