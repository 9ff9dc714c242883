package icalparse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The prepass turns what Kaltura really sends into RFC 5545 text that
// github.com/emersion/go-ical reads without error and without
// mis-reading values:
//
//   - CRLF, LF and lone CR all end a physical line.
//   - A line starting with a space or tab continues the previous one
//     (RFC 5545 folding: the whitespace is dropped, nothing is inserted).
//   - A line that is not a property line continues the previous line's
//     value with a "\n" between (Kaltura writes raw newlines inside
//     SUMMARY and DESCRIPTION). A property line is NAME[;P=V…]:VALUE where
//     NAME is written in capitals and is either a property name of
//     RFC 5545 or one Kaltura emits, or starts with "X-". Requiring a
//     known, upper-case name is stricter than the bare RFC grammar: a
//     description line such as "Note: bring calculators" or "TODO: x" stays
//     in the description instead of becoming a bogus property.
//   - Text values are escaped (\ ; , and newline) so that go-ical's Text()
//     returns exactly what Kaltura sent; structured values (dates, RRULE,
//     integers) are passed through, newlines in them made visible as "\n".
//   - Parameter values are re-quoted when they contain ; : or , and lose
//     any double quote (which cannot be represented).
//   - The RRULE's non-standard NAME part is removed (its value is kept in
//     the X-CAPTUREBOX-RRULE-NAME property of the same event).
//   - VTIMEZONE blocks are dropped (Kaltura's are wrong; TZIDs are resolved
//     through the IANA database). Other unknown calendar components are
//     dropped too. VERROR blocks are kept aside.
//   - PRODID and VERSION are added when missing.
//   - Each VEVENT becomes a block of its own, with the line number where it
//     began, so that one broken event is rejected alone.

// rruleNameProp carries the RRULE NAME part inside the normalised event.
const rruleNameProp = "X-CAPTUREBOX-RRULE-NAME"

const (
	defaultProdID  = "-//capturebox//icalparse prepass//EN"
	defaultVersion = "2.0"
	// maxPropsPerEvent bounds the work and memory spent on one VEVENT;
	// Kaltura writes about 25.
	maxPropsPerEvent = 1000
	// maxDepth bounds component nesting inside an event (VALARM...).
	maxDepth = 8
)

// ErrNotICalendar is returned for input that holds no calendar at all.
var ErrNotICalendar = errors.New("icalparse: not an iCalendar document")

// ErrTruncated is returned when the calendar has no END:VCALENDAR: the
// download was cut short, so the events in it are not the whole schedule.
var ErrTruncated = errors.New("icalparse: calendar ends without END:VCALENDAR (truncated)")

// ErrTooLarge is returned when the input exceeds Options.MaxBytes.
var ErrTooLarge = errors.New("icalparse: input exceeds the size limit")

// ErrTooManyEvents is returned when a calendar holds more VEVENTs than
// Options.MaxEvents (more than any Kaltura listing).
var ErrTooManyEvents = errors.New("icalparse: too many events")

// knownNames are the property names that start a new content line besides
// X-*. They are those of RFC 5545 and those Kaltura writes.
var knownNames = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`BEGIN END VERSION PRODID CALSCALE METHOD
		UID SUMMARY DESCRIPTION STATUS GEO GEOLATITUDE GEOLONGITUDE LOCATION
		PRIORITY SEQUENCE DURATION CONTACT COMMENT ORGANIZER ATTENDEE DTSTART
		DTEND DTSTAMP DUE COMPLETED CLASS RELATED-TO RRULE EXDATE RDATE
		RECURRENCE-ID CREATED LAST-MODIFIED URL CATEGORIES TRANSP ATTACH
		RESOURCES PERCENT-COMPLETE FREEBUSY REQUEST-STATUS TZID TZOFFSETFROM
		TZOFFSETTO TZNAME TZURL ACTION TRIGGER REPEAT NAME REFRESH-INTERVAL
		SOURCE COLOR IMAGE CONFERENCE`) {
		knownNames[n] = true
	}
}

// structured lists the properties whose values are not TEXT: they are
// passed to go-ical as they are. Every other value is escaped as TEXT.
var structured = map[string]bool{
	"DTSTART": true, "DTEND": true, "DTSTAMP": true, "DUE": true, "COMPLETED": true,
	"DURATION": true, "RRULE": true, "EXDATE": true, "RDATE": true,
	"RECURRENCE-ID": true, "CREATED": true, "LAST-MODIFIED": true,
	"PRIORITY": true, "SEQUENCE": true, "GEO": true, "VERSION": true,
	"ORGANIZER": true, "ATTENDEE": true, "URL": true, "TRIGGER": true,
	"REPEAT": true, "TZOFFSETFROM": true, "TZOFFSETTO": true, "TZURL": true,
	"PERCENT-COMPLETE": true, "FREEBUSY": true, "ATTACH": true,
}

type param struct {
	name   string
	values []string
}

// line is one logical content line. It is kept small: a page holds
// thousands.
type line struct {
	num    int32 // 1-based physical line where it starts
	flaw   flaw  // why the line is unusable; flawNone when it is fine
	name   string
	params []param
	value  string // unfolded; "" when flawed
}

// flaw is what makes a line unusable.
type flaw uint8

const (
	flawNone       flaw = iota
	flawLongParams      // parameters longer than maxParamBytes
	flawLongLine        // value longer than the line limit
)

func (l *line) tooLong() bool { return l.flaw != flawNone }

// problem says why the line is unusable.
func (l *line) problem(maxLine int) string {
	if l.flaw == flawLongParams {
		return fmt.Sprintf("parameters longer than %d bytes", maxParamBytes)
	}
	return fmt.Sprintf("line longer than %d bytes", maxLine)
}

// maxParamBytes bounds the parameter part of a line (go-ical reads
// parameter values in quadratic time); Kaltura writes at most a TZID.
const maxParamBytes = 1024

// block is one VEVENT (or VERROR) after the prepass.
type block struct {
	line   int      // line of its BEGIN
	id     string   // raw X-KALTURA-ID, for rejections; "" when none
	lines  []*line  // content lines between BEGIN and END, nested BEGIN/END included
	broken []string // structural problems: the event is rejected
}

// document is the prepass result.
type document struct {
	calProps []*line // VCALENDAR-level properties
	events   []*block
	verrors  []*block
	prodID   bool
	version  bool
	garbage  int // lines outside any component, ignored
	dropped  int // components dropped (VTIMEZONE and unknown)
}

// physicalLines splits data on CRLF, LF and lone CR. A final empty segment
// (the file ends with a line break) is not returned.
func physicalLines(data string, fn func(num int, l string)) {
	num := 0
	for len(data) > 0 {
		// Two IndexByte scans are much faster than IndexAny's loop.
		i := strings.IndexByte(data, '\n')
		if i < 0 {
			i = strings.IndexByte(data, '\r')
		} else if j := strings.IndexByte(data[:i], '\r'); j >= 0 {
			i = j
		}
		num++
		if i < 0 {
			fn(num, data)
			return
		}
		fn(num, data[:i])
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// countLines is the number of physical lines of data, plus one.
func countLines(data string) int {
	return strings.Count(data, "\n") + strings.Count(data, "\r") - strings.Count(data, "\r\n") + 1
}

// parseContentLine splits s into name, parameters and value when it is a
// property line under the rule above.
func parseContentLine(s string) (name string, params []param, value string, ok bool) {
	i := 0
	for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
		i++
	}
	if i == 0 || i == len(s) || (s[i] != ';' && s[i] != ':') {
		return "", nil, "", false
	}
	name = s[:i]
	if !strings.HasPrefix(name, "X-") && !knownNames[name] {
		return "", nil, "", false
	}
	for i < len(s) && s[i] == ';' {
		i++
		j := i
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-') {
			j++
		}
		if j == i || j >= len(s) || s[j] != '=' {
			return "", nil, "", false
		}
		p := param{name: strings.ToUpper(s[i:j])}
		i = j + 1
		for {
			var v string
			if i < len(s) && s[i] == '"' {
				k := strings.IndexByte(s[i+1:], '"')
				if k < 0 {
					return "", nil, "", false
				}
				v = s[i+1 : i+1+k]
				i += k + 2
			} else {
				k := i
				for k < len(s) && s[k] != '"' && s[k] != ';' && s[k] != ':' && s[k] != ',' {
					k++
				}
				v = s[i:k]
				i = k
			}
			p.values = append(p.values, v)
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			break
		}
		params = append(params, p)
	}
	if i >= len(s) || s[i] != ':' {
		return "", nil, "", false
	}
	return name, params, s[i+1:], true
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}

// logicalLines applies unfolding and the continuation rule. The lines are
// returned in one slice (one allocation); their values are substrings of
// data unless continuation lines had to be joined.
func logicalLines(data string, maxLine int) (lines []line, garbage int) {
	lines = make([]line, 0, countLines(data))
	allValid := utf8.ValidString(data)
	var cur *line   // the line being read: the last of lines
	var join []byte // its value, once a continuation made a copy necessary
	joined := false
	done := func() {
		if cur != nil && joined {
			cur.value = string(join)
		}
		joined = false
	}
	// add appends sep and s to the value of cur.
	add := func(sep, s string) {
		if cur.flaw != flawNone {
			return
		}
		n := len(cur.value)
		if joined {
			n = len(join)
		}
		if n+len(sep)+len(s) > maxLine {
			cur.flaw, cur.value, joined = flawLongLine, "", false
			return
		}
		switch {
		case !joined && cur.value == "" && sep == "":
			cur.value = s
		default:
			if !joined {
				join = append(join[:0], cur.value...)
				joined = true
			}
			join = append(join, sep...)
			join = append(join, s...)
		}
	}
	physicalLines(data, func(num int, raw string) {
		if !allValid && !utf8.ValidString(raw) {
			raw = strings.ToValidUTF8(raw, "\uFFFD")
		}
		if cur != nil && len(raw) > 0 && (raw[0] == ' ' || raw[0] == '\t') {
			add("", raw[1:])
			return
		}
		// Only the head of a line can hold a name and parameters.
		head := raw
		if len(head) > maxParamBytes+128 {
			head = head[:maxParamBytes+128]
		}
		if name, params, rest, ok := parseContentLine(head); ok {
			done()
			lines = append(lines, line{num: int32(num), name: name, params: params})
			cur = &lines[len(lines)-1]
			valueAt := len(head) - len(rest)
			if valueAt > maxParamBytes {
				cur.flaw = flawLongParams
			}
			add("", raw[valueAt:])
			return
		}
		if cur == nil || cur.name == "BEGIN" || cur.name == "END" {
			// Nothing to continue: stray text outside a value.
			if len(strings.TrimSpace(raw)) != 0 {
				garbage++
			}
			return
		}
		add("\n", raw)
	})
	done()
	return lines, garbage
}

// prepass builds the document.
func prepass(data []byte, maxLine int) (*document, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	// One copy of the input; the lines' values are substrings of it.
	lines, garbage := logicalLines(string(data), maxLine)
	doc := &document{garbage: garbage}
	// The events' line lists share one backing array: events never
	// interleave, so each takes the next stretch of it.
	arena := make([]*line, 0, len(lines))

	const (
		outside = iota
		inCal
	)
	state := outside
	sawCal, complete := false, false
	var ev *block // current VEVENT or VERROR
	var evName string
	var depth []string // components open inside ev
	skip := 0          // depth of a component being dropped

	finish := func(reason string) {
		if ev == nil {
			return
		}
		if reason != "" {
			ev.broken = append(ev.broken, reason)
		}
		if evName == "VERROR" {
			doc.verrors = append(doc.verrors, ev)
		} else {
			doc.events = append(doc.events, ev)
		}
		n := len(ev.lines)
		ev.lines = ev.lines[:n:n]
		if n <= cap(arena) {
			arena = arena[n:cap(arena)][:0]
		}
		ev, depth = nil, nil
	}
	startEvent := func(l *line, name string) {
		ev = &block{line: int(l.num), lines: arena[:0]}
		evName = name
		depth = nil
	}

	for i := range lines {
		l := &lines[i]
		isBegin, isEnd := l.name == "BEGIN", l.name == "END"
		var comp string // the component a BEGIN or END names
		if isBegin || isEnd {
			comp = strings.ToUpper(strings.TrimSpace(l.value))
		}
		if skip > 0 {
			// A dropped block (VTIMEZONE...) that lost its END must not
			// swallow the events after it.
			resync := isBegin && (comp == "VEVENT" || comp == "VERROR" || comp == "VCALENDAR") ||
				isEnd && comp == "VCALENDAR"
			if !resync {
				switch {
				case isBegin:
					skip++
				case isEnd:
					skip--
				}
				continue
			}
			skip = 0
		}
		if ev != nil {
			switch {
			case isBegin && (comp == "VEVENT" || comp == "VERROR" || comp == "VCALENDAR") && len(depth) == 0:
				finish("no END:" + evName + " before the next BEGIN")
				if comp == "VCALENDAR" {
					state, sawCal = inCal, true
					continue
				}
				startEvent(l, comp)
				continue
			case isEnd && len(depth) == 0 && comp == evName:
				finish("")
				continue
			case isEnd && len(depth) == 0 && comp == "VCALENDAR":
				finish("no END:" + evName + " before END:VCALENDAR")
				complete, state = true, outside
				continue
			case isEnd && len(depth) == 0:
				ev.broken = append(ev.broken, fmt.Sprintf("line %d: END:%s without BEGIN", l.num, truncate(comp, 20)))
				continue
			case isBegin:
				if len(depth) >= maxDepth {
					ev.broken = append(ev.broken, fmt.Sprintf("line %d: components nested too deep", l.num))
					skip = 1
					continue
				}
				depth = append(depth, comp)
			case isEnd:
				if depth[len(depth)-1] != comp {
					ev.broken = append(ev.broken, fmt.Sprintf("line %d: END:%s does not close %s", l.num, truncate(comp, 20), depth[len(depth)-1]))
				}
				depth = depth[:len(depth)-1]
			}
			if l.tooLong() {
				ev.broken = append(ev.broken, fmt.Sprintf("line %d: %s: %s", l.num, l.name, l.problem(maxLine)))
				continue
			}
			if len(ev.lines) >= maxPropsPerEvent {
				if len(ev.lines) == maxPropsPerEvent {
					ev.broken = append(ev.broken, fmt.Sprintf("more than %d properties", maxPropsPerEvent))
					ev.lines = append(ev.lines, nil) // mark once
				}
				continue
			}
			if l.name == "X-KALTURA-ID" && ev.id == "" {
				ev.id = strings.TrimSpace(l.value)
			}
			if l.name == rruleNameProp {
				continue // ours; never taken from the input
			}
			ev.lines = append(ev.lines, l)
			continue
		}
		switch {
		case isBegin && comp == "VCALENDAR":
			state, sawCal = inCal, true
		case isBegin && (comp == "VEVENT" || comp == "VERROR"):
			// A VEVENT outside any VCALENDAR is accepted as if wrapped.
			if state == outside && !sawCal {
				state, sawCal = inCal, true
			}
			startEvent(l, comp)
		case isBegin:
			skip = 1
			doc.dropped++
		case isEnd && comp == "VCALENDAR" && state == inCal:
			complete, state = true, outside
		case isEnd:
			doc.garbage++
		case state == inCal:
			switch l.name {
			case "PRODID":
				doc.prodID = true
			case "VERSION":
				doc.version = true
			}
			// Kaltura writes one (X-KALTURA-TOTAL-COUNT); keep a few.
			if !l.tooLong() && len(doc.calProps) < maxPropsPerEvent {
				doc.calProps = append(doc.calProps, l)
			}
		default:
			doc.garbage++
		}
	}
	if ev != nil {
		finish("no END:" + evName)
	}
	if !sawCal {
		return nil, ErrNotICalendar
	}
	if !complete || state == inCal {
		return doc, ErrTruncated
	}
	return doc, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// writeLine writes a content line whose value is already canonical.
func writeLine(b *bytes.Buffer, name string, params []param, value string) {
	writeHead(b, name, params)
	b.WriteString(value)
	b.WriteString("\r\n")
}

// writeProp writes a content line in the canonical form go-ical reads:
// the value is escaped as TEXT, or kept on one line when structured.
func writeProp(b *bytes.Buffer, name string, params []param, value string) {
	writeHead(b, name, params)
	if !strings.HasPrefix(name, "X-") && structured[name] { // no X- name is structured
		writeEscaped(b, value, &structuredSpecial)
	} else {
		writeEscaped(b, value, &textSpecial)
	}
	b.WriteString("\r\n")
}

// writeHead writes the name, the parameters and the colon.
func writeHead(b *bytes.Buffer, name string, params []param) {
	b.WriteString(name)
	for _, p := range params {
		b.WriteByte(';')
		b.WriteString(p.name)
		b.WriteByte('=')
		for i, v := range p.values {
			if i > 0 {
				b.WriteByte(',')
			}
			v = paramCleaner.Replace(v)
			if strings.ContainsAny(v, ";:,") {
				b.WriteByte('"')
				b.WriteString(v)
				b.WriteByte('"')
			} else {
				b.WriteString(v)
			}
		}
	}
	b.WriteByte(':')
}

// The bytes escaped in structured values (a newline, made visible) and in
// TEXT values (RFC 5545 §3.3.11: backslash, semicolon, comma, newline).
var structuredSpecial, textSpecial [256]bool

func init() {
	structuredSpecial['\n'] = true
	for _, c := range []byte("\\;,\n") {
		textSpecial[c] = true
	}
}

// writeEscaped writes v with a backslash before each special byte, a
// newline becoming \n.
func writeEscaped(b *bytes.Buffer, v string, special *[256]bool) {
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !special[c] {
			continue
		}
		b.WriteString(v[start:i])
		if c == '\n' {
			c = 'n'
		}
		b.WriteByte('\\')
		b.WriteByte(c)
		start = i + 1
	}
	b.WriteString(v[start:])
}

// paramCleaner removes what a parameter value cannot hold.
var paramCleaner = strings.NewReplacer(`"`, "", "\n", " ")

// rruleParts lists the RRULE parts of RFC 5545 (and BYEASTER, which
// rrule-go knows); they end Kaltura's free-text NAME part.
var rruleParts = []string{"FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE",
	"BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
	"RSCALE", "SKIP", "BYEASTER"}

// StripRRuleName removes Kaltura's non-standard NAME part from an RRULE
// value and returns the rule and the name. The name is free text and may
// itself hold ';' or '=': it runs up to the next ";PART=" of RFC 5545 or
// to the end.
func StripRRuleName(rule string) (stripped, name string) {
	up := strings.ToUpper(rule)
	start := -1
	if strings.HasPrefix(up, "NAME=") {
		start = 0
	} else if i := strings.Index(up, ";NAME="); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return rule, ""
	}
	valStart := start + len("NAME=")
	end := len(rule)
	for _, p := range rruleParts {
		if i := strings.Index(up[valStart:], ";"+p+"="); i >= 0 && valStart+i < end {
			end = valStart + i
		}
	}
	name = rule[valStart:end]
	before := strings.TrimSuffix(rule[:start], ";")
	after := strings.TrimPrefix(rule[end:], ";")
	switch {
	case before == "":
		stripped = after
	case after == "":
		stripped = before
	default:
		stripped = before + ";" + after
	}
	return stripped, name
}

// eventText renders one event block into b as a calendar for go-ical:
// the VEVENT inside BEGIN/END:VCALENDAR. PRODID and VERSION are left out;
// go-ical's decoder does not need them and the event does not use them.
func eventText(b *bytes.Buffer, ev *block) []byte {
	b.Reset()
	b.WriteString("BEGIN:VCALENDAR\r\n")
	writeEventBody(b, ev)
	b.WriteString("END:VCALENDAR\r\n")
	return b.Bytes()
}

func writeEventBody(b *bytes.Buffer, ev *block) {
	b.WriteString("BEGIN:VEVENT\r\n")
	var open []string
	for _, l := range ev.lines {
		if l == nil {
			continue
		}
		switch l.name {
		case "BEGIN":
			name := componentName(l.value)
			open = append(open, name)
			writeLine(b, "BEGIN", nil, name)
			continue
		case "END":
			if len(open) == 0 {
				continue
			}
			writeLine(b, "END", nil, open[len(open)-1])
			open = open[:len(open)-1]
			continue
		case "RRULE":
			rule, name := StripRRuleName(strings.TrimSpace(l.value))
			writeProp(b, "RRULE", l.params, rule)
			if name != "" && len(open) == 0 {
				writeProp(b, rruleNameProp, nil, name)
			}
			continue
		}
		writeProp(b, l.name, l.params, l.value)
	}
	// Close components left open (already reported as broken).
	for i := len(open) - 1; i >= 0; i-- {
		writeLine(b, "END", nil, open[i])
	}
	b.WriteString("END:VEVENT\r\n")
}

// componentName normalises a BEGIN value into a name go-ical accepts
// (an iana-token or x-name); anything else becomes X-INVALID.
func componentName(v string) string {
	v = strings.ToUpper(strings.TrimSpace(v))
	if v == "" {
		return "X-INVALID"
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) && v[i] != '-' {
			return "X-INVALID"
		}
	}
	return v
}

// render writes the whole normalised calendar.
func (doc *document) render() []byte {
	var b bytes.Buffer
	b.WriteString("BEGIN:VCALENDAR\r\n")
	if !doc.prodID {
		writeLine(&b, "PRODID", nil, defaultProdID)
	}
	if !doc.version {
		writeLine(&b, "VERSION", nil, defaultVersion)
	}
	for _, l := range doc.calProps {
		writeProp(&b, l.name, l.params, l.value)
	}
	for _, ev := range doc.events {
		writeEventBody(&b, ev)
	}
	b.WriteString("END:VCALENDAR\r\n")
	return b.Bytes()
}

// Prepass returns raw Kaltura iCal rewritten as RFC 5545 text that go-ical
// decodes (see the package documentation for what it changes). VERROR
// blocks are left out; events with structural faults are kept, so that
// Parse can report them. It fails on input that is not a calendar, is
// truncated, or exceeds opts.MaxBytes.
func Prepass(raw []byte, opts Options) ([]byte, error) {
	opts = opts.withDefaults()
	if int64(len(raw)) > opts.MaxBytes {
		return nil, ErrTooLarge
	}
	doc, err := prepass(raw, opts.MaxLineBytes)
	if err != nil {
		return nil, err
	}
	return doc.render(), nil
}
