package fetch

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/capturebox/capturebox/upload/kaltura"
)

// scanned is what the light scan of a page finds.
type scanned struct {
	ids    []int64
	stamps []string // "DTSTAMP/SEQUENCE" per id: changes with every update
	total  int      // X-KALTURA-TOTAL-COUNT; -1 when absent
	spans  []Span   // byte range of each VEVENT
}

var (
	lBeginEvent  = []byte("BEGIN:VEVENT")
	lEndEvent    = []byte("END:VEVENT")
	lBeginError  = []byte("BEGIN:VERROR")
	lEndError    = []byte("END:VERROR")
	pID          = []byte("X-KALTURA-ID:")
	pStamp       = []byte("DTSTAMP:")
	pSequence    = []byte("SEQUENCE:")
	pTotal       = []byte("X-KALTURA-TOTAL-COUNT:")
	pErrCode     = []byte("X-KALTURA-CODE:")
	pErrMessage  = []byte("X-KALTURA-MESSAGE:")
	pErrArgument = []byte("X-KALTURA-ARGUMENTS:")
)

// scanPage finds the VEVENT ids, their DTSTAMPs and the total count of an
// iCal body, and turns a VERROR block into a *kaltura.APIError. It is not a
// parser: it only checks that every VEVENT carries one numeric
// X-KALTURA-ID, and that the calendar is closed (a truncated body fails).
// Lines may end in CRLF or LF (the FTP wrapper uses LF).
func scanPage(body []byte) (scanned, error) {
	s := scanned{total: -1}
	inEvent, inError, sawEnd := false, false, false
	var id int64
	var stamp, seq []byte // views of body, made a string once per event
	haveID := false
	var verr *kaltura.APIError
	// The body must start with BEGIN:VCALENDAR (after an optional BOM and
	// blank lines): a captive portal's HTML page is not an empty schedule.
	rest := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if !hasPrefixFold(rest, []byte("BEGIN:VCALENDAR")) {
		return s, fmt.Errorf("not an iCalendar body")
	}
	full := body
	evStart := 0
	for len(body) > 0 {
		pos := len(full) - len(body) // offset of this line
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		switch {
		case bytes.EqualFold(line, lBeginEvent):
			if inEvent {
				return s, fmt.Errorf("nested VEVENT")
			}
			inEvent, haveID, stamp, seq = true, false, nil, nil
			evStart = pos
		case bytes.EqualFold(line, lEndEvent):
			if !inEvent {
				return s, fmt.Errorf("END:VEVENT without BEGIN")
			}
			if !haveID {
				return s, fmt.Errorf("VEVENT %d has no X-KALTURA-ID", len(s.ids)+1)
			}
			s.ids = append(s.ids, id)
			s.stamps = append(s.stamps, string(stamp)+"/"+string(seq))
			s.spans = append(s.spans, Span{ID: id, Start: evStart, End: len(full) - len(body)})
			inEvent = false
		case inEvent && hasPrefixFold(line, pID):
			// The last one wins: raw newlines in DESCRIPTION (written
			// before X-KALTURA-ID) could fake an earlier one.
			v, err := strconv.ParseInt(strings.TrimSpace(string(line[len(pID):])), 10, 64)
			if err != nil || v <= 0 {
				return s, fmt.Errorf("VEVENT %d: bad X-KALTURA-ID", len(s.ids)+1)
			}
			id, haveID = v, true
		case inEvent && hasPrefixFold(line, pStamp):
			stamp = bytes.TrimSpace(line[len(pStamp):]) // last wins, as above
		case inEvent && hasPrefixFold(line, pSequence):
			seq = bytes.TrimSpace(line[len(pSequence):])
		case !inEvent && hasPrefixFold(line, pTotal):
			v, err := strconv.Atoi(strings.TrimSpace(string(line[len(pTotal):])))
			if err != nil || v < 0 {
				return s, fmt.Errorf("bad X-KALTURA-TOTAL-COUNT")
			}
			s.total = v
		case !inEvent && bytes.EqualFold(line, lBeginError):
			inError = true
			verr = &kaltura.APIError{Service: "schedule_scheduleevent", Action: "list", Args: map[string]string{}}
		case inError && bytes.EqualFold(line, lEndError):
			inError = false
		case inError && hasPrefixFold(line, pErrCode):
			verr.Code = strings.TrimSpace(string(line[len(pErrCode):]))
		case inError && hasPrefixFold(line, pErrMessage):
			verr.Message = string(line[len(pErrMessage):])
		case inError && hasPrefixFold(line, pErrArgument):
			for i, v := range strings.Split(string(line[len(pErrArgument):]), ";") {
				verr.Args["arg"+strconv.Itoa(i)] = v
			}
		case !inEvent && bytes.EqualFold(line, []byte("END:VCALENDAR")):
			sawEnd = true
		}
	}
	if verr != nil {
		if verr.Code == "" {
			verr.Code = "UNKNOWN_ICAL_ERROR"
		}
		if verr.Code == kaltura.CodeInvalidKS {
			verr.Args["KSID"] = verr.Args["arg0"]
		}
		return s, verr
	}
	if inEvent {
		return s, fmt.Errorf("truncated: VEVENT not closed")
	}
	if !sawEnd {
		return s, fmt.Errorf("truncated: no END:VCALENDAR")
	}
	return s, nil
}

func hasPrefixFold(line, prefix []byte) bool {
	return len(line) >= len(prefix) && bytes.EqualFold(line[:len(prefix)], prefix)
}
