package schedule_test

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

var propStart = regexp.MustCompile(`^[A-Za-z0-9-]+(;[^:]*)?:`)

// textProps are the TEXT-valued properties whose raw ,;\ and newlines must be
// escaped for a strict parser.
var textProps = map[string]bool{"SUMMARY": true, "DESCRIPTION": true, "LOCATION": true, "COMMENT": true,
	"CONTACT": true, "RELATED-TO": true, "X-KALTURA-TAGS": true, "X-KALTURA-RESOURCE-IDS": true,
	"X-KALTURA-CATEGORY-IDS": true, "X-KALTURA-ENTRY-IDS": true, "X-KALTURA-OWNER-ID": true}

// unquirk turns Kaltura's calendar into strict RFC 5545: it rejoins raw
// newlines the way Kaltura's own parser does (a line that is not NAME:… is
// a continuation), drops the broken VTIMEZONE (TZIDs are IANA ids), adds
// PRODID/VERSION, strips the non-standard NAME= from RRULE, escapes TEXT
// values and folds lines at 75 octets.
func unquirk(cal string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(cal, "\r\n"), "\r\n") {
		if len(lines) > 0 && !propStart.MatchString(l) {
			lines[len(lines)-1] += "\r\n" + l
			continue
		}
		lines = append(lines, l)
	}
	var out []string
	inTZ := false
	for _, l := range lines {
		switch {
		case l == "BEGIN:VTIMEZONE":
			inTZ = true
			continue
		case l == "END:VTIMEZONE":
			inTZ = false
			continue
		case inTZ:
			continue
		}
		name, value, _ := strings.Cut(l, ":")
		base, _, _ := strings.Cut(name, ";")
		switch {
		case base == "RRULE":
			var parts []string
			for _, p := range strings.Split(value, ";") {
				if !strings.HasPrefix(p, "NAME=") {
					parts = append(parts, p)
				}
			}
			value = strings.Join(parts, ";")
		case textProps[base]:
			value = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`).Replace(value)
		}
		out = append(out, name+":"+value)
		if l == "BEGIN:VCALENDAR" && !strings.Contains(cal, "\r\nPRODID:") {
			out = append(out, "PRODID:-//capturebox//unquirk//EN", "VERSION:2.0")
		}
	}
	var b strings.Builder
	for _, l := range out {
		for len(l) > 75 {
			b.WriteString(l[:75] + "\r\n ")
			l = l[75:]
		}
		b.WriteString(l + "\r\n")
	}
	return b.String()
}

func TestICalRoundTripStrictParser(t *testing.T) {
	h := newHarness(t, "2025-08-20T15:10:03Z")
	cam := h.addResource("Room 204 Camera", schedule.ResourceCamera, 0)
	h.store.SetCategory(pid, 301, "12>300>301")
	h.addEvent(schedule.Event{Summary: "CHEM 101, Lecture; part \\ one " + strings.Repeat("long ", 30),
		Description: "Bring: goggles, gloves;\nno food\r\nsecond line", ResourceIDs: []int64{cam}, TemplateEntryID: "1_xy98zw76",
		CategoryIDs: "301", Tags: "chem,lab", OwnerID: "jdoe", Priority: 2, ReferenceID: "ext-42",
		StartDate: unix("2025-09-02T13:00:00Z"), Duration: 4500, RecurrenceType: schedule.RecurrenceRecurring,
		Recurrence: &schedule.Recurrence{Frequency: "weeks", Name: "Fall term", ByDay: "TU,TH", Until: unix("2025-12-16T15:00:00Z"), TimeZone: "America/New_York"}})
	h.addEvent(schedule.Event{Summary: "One-off", Location: "Hall B", StartDate: unix("2025-09-15T13:00:00Z"), EndDate: unix("2025-09-15T14:15:00Z"),
		ResourceIDs: []int64{cam}})
	b := h.addEvent(schedule.Event{Type: schedule.TypeBlackout, Summary: "Holiday", StartDate: unix("2025-10-13T00:00:00Z"), EndDate: unix("2025-10-14T00:00:00Z")})
	if _, err := h.store.CancelEvent(pid, b.ID); err != nil {
		t.Fatal(err)
	}
	for _, variant := range []struct {
		name string
		opts schedule.PartnerOptions
	}{{"current", schedule.PartnerOptions{}}, {"prodid", schedule.PartnerOptions{ProdID: "20.14.0"}}} {
		t.Run(variant.name, func(t *testing.T) {
			h.store.SetPartnerOptions(pid, variant.opts)
			p := kapi.Params{"pager:pageSize": "500"}
			raw := h.ical(p)
			want := h.list(p)
			strict := unquirk(raw)
			cal, err := ical.NewDecoder(strings.NewReader(strict)).Decode()
			if err != nil {
				t.Fatalf("decode: %v\n%s", err, strict)
			}
			// The encoder enforces RFC 5545's cardinalities (PRODID, VERSION, UID, DTSTAMP…).
			var enc bytes.Buffer
			if err := ical.NewEncoder(&enc).Encode(cal); err != nil {
				t.Fatalf("strict encode: %v", err)
			}
			if cal, err = ical.NewDecoder(&enc).Decode(); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			events := cal.Events()
			if len(events) != len(want.Objects) {
				t.Fatalf("events %d, want %d", len(events), len(want.Objects))
			}
			for i, ev := range events {
				w := want.Objects[i]
				text := func(name string) string {
					p := ev.Props.Get(name)
					if p == nil {
						return ""
					}
					s, err := p.Text()
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					return s
				}
				if got := text("X-KALTURA-ID"); got != strconv.FormatInt(w.ID, 10) {
					t.Errorf("event %d: id %q", i, got)
				}
				wantUID := w.ReferenceID
				if wantUID == "" {
					wantUID = schedule.GeneratedUID(w.ID)
				}
				if got := text("UID"); got != wantUID {
					t.Errorf("event %d: UID %q, want %q", w.ID, got, wantUID)
				}
				if got := text("SUMMARY"); got != w.Summary {
					t.Errorf("event %d: SUMMARY %q, want %q", w.ID, got, w.Summary)
				}
				// iCal TEXT has one newline escape: a raw CRLF comes back as LF.
				if got := text("DESCRIPTION"); got != strings.ReplaceAll(w.Description, "\r\n", "\n") {
					t.Errorf("event %d: DESCRIPTION %q, want %q", w.ID, got, w.Description)
				}
				wantLoc := w.Location
				if wantLoc == "" {
					wantLoc = strings.Join(w.ResourceNames, ",")
				}
				if got := text("LOCATION"); got != wantLoc {
					t.Errorf("event %d: LOCATION %q, want %q", w.ID, got, wantLoc)
				}
				if got := text("X-KALTURA-TAGS"); got != w.Tags {
					t.Errorf("event %d: tags %q", w.ID, got)
				}
				start, err := ev.DateTimeStart(nil)
				if err != nil || !start.Equal(time.Unix(w.StartDate, 0)) {
					t.Errorf("event %d: DTSTART %v (%v), want %v", w.ID, start, err, time.Unix(w.StartDate, 0).UTC())
				}
				end, err := ev.DateTimeEnd(nil)
				if err != nil || !end.Equal(time.Unix(w.EndDate, 0)) {
					t.Errorf("event %d: DTEND %v (%v)", w.ID, end, err)
				}
				st, err := ev.Status()
				wantSt := ical.EventConfirmed
				if w.Status != schedule.StatusActive {
					wantSt = ical.EventCancelled
				}
				if err != nil || st != wantSt {
					t.Errorf("event %d: STATUS %v (%v)", w.ID, st, err)
				}
				if dt := ev.Props.Get(ical.PropDateTimeStamp); dt == nil {
					t.Errorf("event %d: no DTSTAMP", w.ID)
				} else if ts, err := dt.DateTime(nil); err != nil || ts.Unix() != w.UpdatedAt {
					t.Errorf("event %d: DTSTAMP %v", w.ID, ts)
				}
				rs, err := ev.RecurrenceSet(nil)
				if err != nil {
					t.Errorf("event %d: RRULE: %v", w.ID, err)
				}
				if (rs != nil) != (w.Recurrence != nil) {
					t.Errorf("event %d: RRULE presence %v, recurrence %v", w.ID, rs != nil, w.Recurrence)
				}
				if rs != nil && w.ParentID == 0 {
					// The series' own RRULE, expanded by a strict library,
					// gives exactly the occurrence rows the server stored.
					var wantStarts []int64
					for _, o := range h.store.Occurrences(pid, w.ID) {
						wantStarts = append(wantStarts, o.StartDate)
					}
					var got []int64
					for _, tm := range rs.All() {
						got = append(got, tm.Unix())
					}
					if len(got) != len(wantStarts) || len(got) == 0 {
						t.Errorf("series %d: expansion %d dates, stored %d", w.ID, len(got), len(wantStarts))
					}
					for k := range min(len(got), len(wantStarts)) {
						if got[k] != wantStarts[k] {
							t.Errorf("series %d: date %d = %v, stored %v", w.ID, k, time.Unix(got[k], 0).UTC(), time.Unix(wantStarts[k], 0).UTC())
							break
						}
					}
				}
			}
		})
	}
}
