package icalparse

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// vevent builds a minimal valid VEVENT with extra lines before END.
func vevent(id string, extra ...string) string {
	lines := []string{
		"BEGIN:VEVENT",
		"SUMMARY:t",
		"DTSTART:20251020T130000Z",
		"DTEND:20251020T140000Z",
		"X-KALTURA-ID:" + id,
		"X-KALTURA-TYPE:1",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-RESOURCE-IDS:58",
	}
	lines = append(lines, extra...)
	lines = append(lines, "END:VEVENT")
	return strings.Join(lines, "\r\n") + "\r\n"
}

func calendar(body string) string {
	return "BEGIN:VCALENDAR\r\n" + body + "END:VCALENDAR\r\n"
}

func mustParse(t *testing.T, s string) *Calendar {
	t.Helper()
	cal, err := Parse(strings.NewReader(s), Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cal
}

func TestLineRules(t *testing.T) {
	tests := []struct {
		name      string
		summary   string // raw SUMMARY line(s) as they appear, CRLF-joined
		wantTitle string
	}{
		{"plain", "SUMMARY:BIO 210", "BIO 210"},
		{"unescaped specials", `SUMMARY:a,b;c\d`, `a,b;c\d`},
		{"rfc fold space", "SUMMARY:BIO\r\n  210", "BIO 210"},
		{"rfc fold tab", "SUMMARY:BIO\r\n\t210", "BIO210"},
		{"raw newline", "SUMMARY:line one\r\nline two", "line one\nline two"},
		{"raw LF newline", "SUMMARY:line one\nline two", "line one\nline two"},
		{"lone CR", "SUMMARY:line one\rline two", "line one\nline two"},
		{"blank line inside", "SUMMARY:a\r\n\r\nb", "a\n\nb"},
		{"lowercase name-like line stays text", "SUMMARY:a\r\nNote: bring calculators", "a\nNote: bring calculators"},
		{"unknown upper-case name stays text", "SUMMARY:a\r\nTODO: x", "a\nTODO: x"},
		{"escaped-looking text is literal", `SUMMARY:a\nb\,c`, `a\nb\,c`},
		{"utf-8", "SUMMARY:Vorlesung Größe – 東京", "Vorlesung Größe – 東京"},
		{"invalid utf-8 replaced", "SUMMARY:a\xffb", "a\uFFFDb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(vevent("100"), "SUMMARY:t", tc.summary, 1)
			cal := mustParse(t, calendar(body))
			if len(cal.Events) != 1 {
				t.Fatalf("got %d events, rejected %+v", len(cal.Events), cal.Rejected)
			}
			if got := cal.Events[0].Title; got != tc.wantTitle {
				t.Errorf("Title = %q, want %q", got, tc.wantTitle)
			}
		})
	}
}

// TestTextRoundTrip: any text Kaltura writes raw comes back exactly, as
// long as no line of it looks like a property (upper-case known name or
// X- followed by a colon), which the alphabet here cannot produce.
func TestTextRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", " ", ",", ";", `\`, ":", "\n", "\r\n", "n", "é", "=", `"`}
	for i := 0; i < 500; i++ {
		var b strings.Builder
		b.WriteString("x")
		for j := r.IntN(40); j > 0; j-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		text := b.String()
		// A value line that starts with space or tab would be RFC folding.
		if strings.Contains(text, "\n ") {
			continue
		}
		cal := mustParse(t, calendar(vevent("100", "DESCRIPTION:"+text)))
		if len(cal.Events) != 1 {
			t.Fatalf("text %q: rejected %+v", text, cal.Rejected)
		}
		want := strings.ReplaceAll(text, "\r\n", "\n")
		if got := cal.Events[0].Description; got != want {
			t.Fatalf("Description = %q, want %q", got, want)
		}
	}
}

func TestStripRRuleName(t *testing.T) {
	tests := []struct{ in, rule, name string }{
		{"FREQ=WEEKLY;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO", ""},
		{"FREQ=WEEKLY;UNTIL=20251216T150000Z;NAME=CHEM 101;BYDAY=TU,TH", "FREQ=WEEKLY;UNTIL=20251216T150000Z;BYDAY=TU,TH", "CHEM 101"},
		{"FREQ=WEEKLY;NAME=a;b=c;COUNT=3", "FREQ=WEEKLY;COUNT=3", "a;b=c"},
		{"FREQ=DAILY;NAME=last part", "FREQ=DAILY", "last part"},
		{"NAME=first;FREQ=DAILY", "FREQ=DAILY", "first"},
		{"FREQ=DAILY;NAME=", "FREQ=DAILY", ""},
		{"FREQ=DAILY;NAME=x;INTERVAL=2;WKST=SU", "FREQ=DAILY;INTERVAL=2;WKST=SU", "x"},
	}
	for _, tc := range tests {
		rule, name := StripRRuleName(tc.in)
		if rule != tc.rule || name != tc.name {
			t.Errorf("StripRRuleName(%q) = %q, %q; want %q, %q", tc.in, rule, name, tc.rule, tc.name)
		}
	}
}

func TestStructure(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantErr    error
		wantIDs    []int64
		wantReject []int64
	}{
		{"empty", "", ErrNotICalendar, nil, nil},
		{"html error page", "<html><body>502 Bad Gateway</body></html>", ErrNotICalendar, nil, nil},
		{"truncated", "BEGIN:VCALENDAR\r\n" + vevent("1"), ErrTruncated, nil, nil},
		{"truncated inside event", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nX-KALTURA-ID:1\r\n", ErrTruncated, nil, nil},
		{"empty calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", nil, nil, nil},
		{"missing END:VEVENT", calendar(strings.TrimSuffix(vevent("1"), "END:VEVENT\r\n") + vevent("2")), nil, []int64{2}, []int64{1}},
		{"missing END:VEVENT at end", calendar(strings.TrimSuffix(vevent("1"), "END:VEVENT\r\n")), nil, nil, []int64{1}},
		{"stray END", calendar(vevent("1", "END:VALARM") + vevent("2")), nil, []int64{2}, []int64{1}},
		{"nested VALARM kept", calendar(vevent("1", "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT5M", "END:VALARM")), nil, []int64{1}, nil},
		{"VTIMEZONE without END", "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:x\r\n" + vevent("1") + "END:VCALENDAR\r\n", nil, []int64{1}, nil},
		{"unknown component dropped", calendar("BEGIN:VTODO\r\nSUMMARY:x\r\nEND:VTODO\r\n" + vevent("1")), nil, []int64{1}, nil},
		{"two calendars merged", calendar(vevent("1")) + calendar(vevent("2")), nil, []int64{1, 2}, nil},
		{"garbage after END:VCALENDAR", calendar(vevent("1")) + "trailing junk\r\n", nil, []int64{1}, nil},
		{"BOM", "\ufeff" + calendar(vevent("1")), nil, []int64{1}, nil},
		{"lower-case BEGIN value", "BEGIN:vcalendar\r\n" + vevent("1") + "END:vcalendar\r\n", nil, []int64{1}, nil},
		{"our own name property ignored", calendar(vevent("1", "X-CAPTUREBOX-RRULE-NAME:injected")), nil, []int64{1}, nil},
		{"broken param quoting is a continuation", calendar(vevent("1", `DTSTART;TZID="America/New_York:20251020T090000`)), nil, nil, []int64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cal, err := Parse(strings.NewReader(tc.in), Options{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids, rej []int64
			for _, e := range cal.Events {
				ids = append(ids, e.ID)
			}
			for _, r := range cal.Rejected {
				rej = append(rej, r.EventID)
			}
			if !equalIDs(ids, tc.wantIDs) || !equalIDs(rej, tc.wantReject) {
				t.Errorf("events %v rejected %v (%+v); want %v and %v", ids, rej, cal.Rejected, tc.wantIDs, tc.wantReject)
			}
		})
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTimes(t *testing.T) {
	tests := []struct {
		name       string
		start, end string // full lines
		wantStart  string
		wantEnd    string
		wantTZ     string
		reject     string
	}{
		{"utc", "DTSTART:20251020T130000Z", "DTEND:20251020T140000Z", "2025-10-20T13:00:00Z", "2025-10-20T14:00:00Z", "", ""},
		{"tzid", "DTSTART;TZID=America/New_York:20250902T090000", "DTEND;TZID=America/New_York:20250902T101500", "2025-09-02T13:00:00Z", "2025-09-02T14:15:00Z", "America/New_York", ""},
		{"quoted tzid", `DTSTART;TZID="Europe/London":20250102T090000`, "DURATION:PT1H", "2025-01-02T09:00:00Z", "2025-01-02T10:00:00Z", "Europe/London", ""},
		{"mixed forms", "DTSTART;TZID=Europe/Berlin:20250702T090000", "DTEND:20250702T080000Z", "2025-07-02T07:00:00Z", "2025-07-02T08:00:00Z", "Europe/Berlin", ""},
		{"duration days", "DTSTART:20251020T000000Z", "DURATION:P1D", "2025-10-20T00:00:00Z", "2025-10-21T00:00:00Z", "", ""},
		{"dst gap start", "DTSTART;TZID=America/New_York:20250309T023000", "DURATION:PT30M", "2025-03-09T07:30:00Z", "2025-03-09T08:00:00Z", "America/New_York", ""},
		{"duration too long", "DTSTART:20251020T000000Z", "DURATION:P1DT1S", "", "", "", "more than 24h"},
		{"zero length", "DTSTART:20251020T000000Z", "DURATION:PT0S", "", "", "", "not after start"},
		{"negative duration", "DTSTART:20251020T000000Z", "DURATION:-PT1H", "", "", "", "not after start"},
		{"bad duration", "DTSTART:20251020T000000Z", "DURATION:1 hour", "", "", "", "DURATION"},
		{"date only", "DTSTART;VALUE=DATE:20251020", "DTEND;VALUE=DATE:20251021", "", "", "", "date-only"},
		{"Local refused", "DTSTART;TZID=Local:20251020T090000", "DURATION:PT1H", "", "", "", "unknown TZID"},
		{"path refused", "DTSTART;TZID=../../etc/passwd:20251020T090000", "DURATION:PT1H", "", "", "", "unknown TZID"},
		{"garbage date", "DTSTART:2025-10-20T09:00:00Z", "DURATION:PT1H", "", "", "", "DTSTART"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := strings.Replace(vevent("5"), "DTSTART:20251020T130000Z\r\nDTEND:20251020T140000Z", tc.start+"\r\n"+tc.end, 1)
			cal := mustParse(t, calendar(ev))
			if tc.reject != "" {
				if len(cal.Rejected) != 1 || !strings.Contains(cal.Rejected[0].Reason, tc.reject) {
					t.Fatalf("rejected %+v, want a reason containing %q", cal.Rejected, tc.reject)
				}
				return
			}
			if len(cal.Events) != 1 {
				t.Fatalf("rejected: %+v", cal.Rejected)
			}
			e := cal.Events[0]
			if got := e.Start.Format(time.RFC3339); got != tc.wantStart {
				t.Errorf("Start = %s, want %s", got, tc.wantStart)
			}
			if got := e.End.Format(time.RFC3339); got != tc.wantEnd {
				t.Errorf("End = %s, want %s", got, tc.wantEnd)
			}
			if e.TZID != tc.wantTZ {
				t.Errorf("TZID = %q, want %q", e.TZID, tc.wantTZ)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		lines []string
		want  int
	}{
		{[]string{"STATUS:CANCELLED"}, 2}, // X-KALTURA-STATUS wins
		{nil, 2},
	}
	for _, tc := range tests {
		cal := mustParse(t, calendar(vevent("1", tc.lines...)))
		if got := int(cal.Events[0].Status); got != tc.want {
			t.Errorf("%v: status %d, want %d", tc.lines, got, tc.want)
		}
	}
	// Without X-KALTURA-STATUS, STATUS decides.
	for in, want := range map[string]int{"STATUS:CANCELLED": 1, "STATUS:CONFIRMED": 2, "STATUS:1": 1, "STATUS:2": 2, "": 2} {
		ev := strings.Replace(vevent("1"), "X-KALTURA-STATUS:2\r\n", "", 1)
		if in != "" {
			ev = strings.Replace(ev, "SUMMARY:t", "SUMMARY:t\r\n"+in, 1)
		}
		cal := mustParse(t, calendar(ev))
		if len(cal.Events) != 1 || int(cal.Events[0].Status) != want {
			t.Errorf("%q: events %+v rejected %+v, want status %d", in, cal.Events, cal.Rejected, want)
		}
	}
}

func TestKalturaError(t *testing.T) {
	const rawKS = "djJ8MTIzNDU2N3xBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
	tests := []struct {
		name        string
		code, args  string
		expired     bool
		wantInError string
	}{
		{"expired", "INVALID_KS", "EXPIRED;-1;INVALID_STR", true, "INVALID_KS (EXPIRED)"},
		{"logout", "INVALID_KS", "LOGOUT;-1;LOGOUT", true, "INVALID_KS (LOGOUT)"},
		{"invalid type", "INVALID_KS", "INVALID_TYPE", false, "INVALID_KS (INVALID_TYPE)"},
		{"raw KS in args", "INVALID_KS", rawKS, false, "INVALID_KS"},
		{"forbidden", "SERVICE_FORBIDDEN", "", false, "SERVICE_FORBIDDEN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "BEGIN:VCALENDAR\r\nBEGIN:VERROR\r\nX-KALTURA-CODE:" + tc.code +
				"\r\nX-KALTURA-MESSAGE:Invalid KS \"" + rawKS + "\"\r\nX-KALTURA-ARGUMENTS:" + tc.args +
				"\r\nEND:VERROR\r\nEND:VCALENDAR\r\n"
			_, err := Parse(strings.NewReader(in), Options{})
			var ke *KalturaError
			if !errors.As(err, &ke) {
				t.Fatalf("err = %v, want a *KalturaError", err)
			}
			if ke.Code != tc.code {
				t.Errorf("Code = %q", ke.Code)
			}
			if got := errors.Is(err, ErrSessionExpired); got != tc.expired {
				t.Errorf("errors.Is(ErrSessionExpired) = %v, want %v", got, tc.expired)
			}
			if !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("Error() = %q, want it to contain %q", err.Error(), tc.wantInError)
			}
			if strings.Contains(err.Error(), rawKS) || strings.Contains(err.Error(), "djJ8") {
				t.Errorf("Error() leaks the KS: %q", err.Error())
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := calendar(vevent("1") + vevent("2", "DESCRIPTION:"+strings.Repeat("x", 5000)))
	if _, err := Parse(strings.NewReader(big), Options{MaxBytes: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxBytes: err = %v, want ErrTooLarge", err)
	}
	if _, err := Prepass([]byte(big), Options{MaxBytes: 1000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Prepass MaxBytes: err = %v, want ErrTooLarge", err)
	}
	cal, err := Parse(strings.NewReader(big), Options{MaxLineBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(cal.Events) != 1 || len(cal.Rejected) != 1 || cal.Rejected[0].EventID != 2 || !strings.Contains(cal.Rejected[0].Reason, "longer than") {
		t.Errorf("MaxLineBytes: events %v rejected %+v", cal.Events, cal.Rejected)
	}
	// Many properties in one event.
	many := make([]string, 1500)
	for i := range many {
		many[i] = "X-FILL:x"
	}
	cal = mustParse(t, calendar(vevent("3", many...)+vevent("4")))
	if len(cal.Events) != 1 || cal.Events[0].ID != 4 || len(cal.Rejected) != 1 {
		t.Errorf("property limit: events %v rejected %+v", cal.Events, cal.Rejected)
	}
}

func TestTotalCount(t *testing.T) {
	for in, want := range map[string]int{"": -1, "X-KALTURA-TOTAL-COUNT:31\r\n": 31, "X-KALTURA-TOTAL-COUNT:x\r\n": -1, "X-KALTURA-TOTAL-COUNT:0\r\n": 0} {
		cal := mustParse(t, calendar(vevent("1")+in))
		if cal.TotalCount != want {
			t.Errorf("%q: TotalCount = %d, want %d", in, cal.TotalCount, want)
		}
	}
}

func TestOccurrenceRRuleNotValidated(t *testing.T) {
	cal := mustParse(t, calendar(vevent("2", "X-KALTURA-PARENT-ID:1", "RRULE:FREQ=SOMETIMES")+vevent("1", "RRULE:FREQ=SOMETIMES")))
	if len(cal.Events) != 1 || cal.Events[0].ID != 2 || len(cal.Rejected) != 1 || cal.Rejected[0].EventID != 1 {
		t.Errorf("events %+v rejected %+v", cal.Events, cal.Rejected)
	}
}

func TestRejectionsAreLogged(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	in := calendar(vevent("9", "X-KALTURA-TEMPLATE-ENTRY-ID:bad", "X-KALTURA-RTMP-PASSWORD:hunter2") + vevent("10"))
	cal, err := Parse(strings.NewReader(in), Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if len(cal.Rejected) != 1 || cal.Rejected[0].Line != 1+1 {
		t.Fatalf("rejected %+v", cal.Rejected)
	}
	out := logs.String()
	if !strings.Contains(out, "event_id=9") || !strings.Contains(out, "X-KALTURA-TEMPLATE-ENTRY-ID") {
		t.Errorf("log lacks the rejection: %s", out)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("log leaks a stream password: %s", out)
	}
}

func TestPrepassOutputDecodes(t *testing.T) {
	in := calendar(vevent("1", "DESCRIPTION:a,b;c\\d", "RRULE:FREQ=DAILY;NAME=x;y;COUNT=2"))
	out, err := Prepass([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"PRODID:", "VERSION:2.0", `DESCRIPTION:a\,b\;c\\d`, "RRULE:FREQ=DAILY;COUNT=2", `X-CAPTUREBOX-RRULE-NAME:x\;y`} {
		if !strings.Contains(s, want) {
			t.Errorf("prepass output lacks %q:\n%s", want, s)
		}
	}
	if err := checkDecodes(out); err != nil {
		t.Error(err)
	}
}
