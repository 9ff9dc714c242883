package schedule_test

import (
	"strings"
	"testing"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// vtimezone returns the VTIMEZONE block of a calendar, or "".
func vtimezone(cal string) string {
	i := strings.Index(cal, "BEGIN:VTIMEZONE\r\n")
	if i < 0 {
		return ""
	}
	j := strings.Index(cal, "END:VTIMEZONE\r\n")
	return cal[i : j+len("END:VTIMEZONE\r\n")]
}

func addZoneSeries(h *harness, zone, start string) schedule.Event {
	h.t.Helper()
	return h.addEvent(schedule.Event{Summary: zone, StartDate: unix(start), Duration: 3600,
		RecurrenceType: schedule.RecurrenceRecurring,
		Recurrence:     &schedule.Recurrence{Frequency: "weeks", Count: 2, TimeZone: zone}})
}

func TestVTimezoneBugs(t *testing.T) {
	tests := []struct {
		name  string
		zones []string
		want  string
	}{
		{
			// Newfoundland is UTC−3:30 (−2:30 in summer): formatOffset
			// floors the hours, so −3:30 is written -0430 and −2:30 -0330.
			// The second-Sunday-of-March rule comes out as -1SU.
			name:  "floored offsets",
			zones: []string{"America/St_Johns"},
			want: crlf("BEGIN:VTIMEZONE",
				"TZID:America/St_Johns",
				"BEGIN:DAYLIGHT",
				"TZOFFSETFROM:-0430",
				"TZOFFSETTO:-0330",
				"TZNAME:NDT",
				"DTSTART:20250309T053000",
				"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
				"END:DAYLIGHT",
				"BEGIN:STANDARD",
				"TZOFFSETFROM:-0330",
				"TZOFFSETTO:-0430",
				"TZNAME:NST",
				"DTSTART:20251102T043000",
				"RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=-1SU",
				"END:STANDARD",
				"END:VTIMEZONE"),
		},
		{
			// Two zones merged into one block with array_unique: the
			// second zone's BEGIN/END and identical RRULE lines vanish.
			name:  "merged zones",
			zones: []string{"America/New_York", "America/Chicago"},
			want: crlf("BEGIN:VTIMEZONE",
				"TZID:America/New_York",
				"BEGIN:DAYLIGHT",
				"TZOFFSETFROM:-0500",
				"TZOFFSETTO:-0400",
				"TZNAME:EDT",
				"DTSTART:20250309T070000",
				"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
				"END:DAYLIGHT",
				"BEGIN:STANDARD",
				"TZOFFSETFROM:-0400",
				"TZOFFSETTO:-0500",
				"TZNAME:EST",
				"DTSTART:20251102T060000",
				"RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=-1SU",
				"END:STANDARD",
				"TZID:America/Chicago",
				"TZOFFSETFROM:-0600",
				"TZNAME:CDT",
				"DTSTART:20250309T080000",
				"TZOFFSETTO:-0600",
				"TZNAME:CST",
				"DTSTART:20251102T070000",
				"END:VTIMEZONE"),
		},
		{
			// Europe's last-Sunday rule happens to come out right.
			name:  "europe",
			zones: []string{"Europe/Berlin"},
			want: crlf("BEGIN:VTIMEZONE",
				"TZID:Europe/Berlin",
				"BEGIN:DAYLIGHT",
				"TZOFFSETFROM:+0100",
				"TZOFFSETTO:+0200",
				"TZNAME:CEST",
				"DTSTART:20250330T010000",
				"RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
				"END:DAYLIGHT",
				"BEGIN:STANDARD",
				"TZOFFSETFROM:+0200",
				"TZOFFSETTO:+0100",
				"TZNAME:CET",
				"DTSTART:20251026T010000",
				"RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
				"END:STANDARD",
				"END:VTIMEZONE"),
		},
		{
			name:  "no DST",
			zones: []string{"Asia/Kolkata"},
			want: crlf("BEGIN:VTIMEZONE",
				"TZID:Asia/Kolkata",
				"BEGIN:STANDARD",
				"TZOFFSETFROM:+0530",
				"TZOFFSETTO:+0530",
				"TZNAME:IST",
				"DTSTART:20250101T000000",
				"END:STANDARD",
				"END:VTIMEZONE"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "2025-06-01T00:00:00Z")
			for _, z := range tc.zones {
				addZoneSeries(h, z, "2025-06-02T14:00:00Z")
			}
			got := vtimezone(h.ical(kapi.Params{"filter:orderBy": "+createdAt"}))
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestVTimezoneAbsent(t *testing.T) {
	h := newHarness(t, "2025-06-01T00:00:00Z")
	h.addEvent(schedule.Event{Summary: "single", StartDate: unix("2025-06-02T14:00:00Z"), EndDate: unix("2025-06-02T15:00:00Z")})
	if strings.Contains(h.ical(nil), "VTIMEZONE") {
		t.Error("VTIMEZONE without any zone")
	}
	s := addZoneSeries(h, "Europe/Paris", "2025-06-02T14:00:00Z")
	if !strings.Contains(h.ical(nil), "BEGIN:VTIMEZONE") {
		t.Error("no VTIMEZONE for a zoned series")
	}
	for _, o := range []schedule.PartnerOptions{{LegacyICal: true}, {NoVTimezone: true}} {
		h.store.SetPartnerOptions(pid, o)
		got := h.ical(nil)
		if strings.Contains(got, "VTIMEZONE") {
			t.Errorf("%+v: VTIMEZONE present", o)
		}
		if o.LegacyICal == strings.Contains(got, "DTSTART;TZID=Europe/Paris:20250602T160000") {
			t.Errorf("%+v: legacy must write UTC only:\n%s", o, got)
		}
	}
	// A zone that is not an IANA id gives UTC dates and no VTIMEZONE.
	h.store.SetPartnerOptions(pid, schedule.PartnerOptions{})
	if _, err := h.store.UpdateEvent(pid, s.ID, func(e *schedule.Event) { e.Recurrence.TimeZone = "Eastern Standard Time" }); err != nil {
		t.Fatal(err)
	}
	got := h.ical(nil)
	if strings.Contains(got, "VTIMEZONE") || strings.Contains(got, "TZID") {
		t.Errorf("non-IANA zone:\n%s", got)
	}
}
