package schedule_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// vevents splits a calendar into its VEVENT blocks.
func vevents(cal string) []string {
	var out []string
	for _, part := range strings.Split(cal, "BEGIN:VEVENT\r\n")[1:] {
		out = append(out, "BEGIN:VEVENT\r\n"+part[:strings.Index(part, "END:VEVENT\r\n")]+"END:VEVENT\r\n")
	}
	return out
}

func TestICalExampleBSeriesWithTimeZone(t *testing.T) {
	h := newHarness(t, "2025-08-20T15:10:03Z")
	h.caller.UserID = "jdoe"
	res := h.addResource("Room 204 Camera", schedule.ResourceCamera, 0)
	v := h.mustCall("schedule_scheduleevent.add", kapi.Params{
		"scheduleEvent:objectType":            "KalturaRecordScheduleEvent",
		"scheduleEvent:summary":               "CHEM 101 Lecture",
		"scheduleEvent:startDate":             itoa(unix("2025-09-02T13:00:00Z")),
		"scheduleEvent:duration":              "4500",
		"scheduleEvent:recurrenceType":        "1",
		"scheduleEvent:templateEntryId":       "1_xy98zw76",
		"scheduleEvent:resourceIds":           itoa(res),
		"scheduleEvent:recurrence:objectType": "KalturaScheduleEventRecurrence",
		"scheduleEvent:recurrence:frequency":  "weeks",
		"scheduleEvent:recurrence:until":      itoa(unix("2025-12-16T15:00:00Z")),
		"scheduleEvent:recurrence:timeZone":   "America/New_York",
		"scheduleEvent:recurrence:byDay":      "TU,TH",
	}).(*schedule.EventResponse)
	series := v.ID
	got := h.ical(kapi.Params{
		"filter:objectType":       "KalturaRecordScheduleEventFilter",
		"filter:resourceIdsLike":  itoa(res),
		"filter:recurrenceTypeIn": "1,2",
		"filter:orderBy":          "+startDate",
		"pager:pageSize":          "500",
	})
	vtz := crlf("BEGIN:VCALENDAR",
		"BEGIN:VTIMEZONE",
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
		"END:VTIMEZONE")
	if !strings.HasPrefix(got, vtz) {
		t.Errorf("VTIMEZONE:\n%s", got)
	}
	if !strings.HasSuffix(got, "END:VEVENT\r\nX-KALTURA-TOTAL-COUNT:32\r\nEND:VCALENDAR\r\n") {
		// kaltura.md's synthetic Example B says 31; Tue/Thu from 2 Sep to
		// 16 Dec 2025 are 31 occurrences, plus the series.
		t.Errorf("total count (31 occurrences + series):\n%s", got[len(got)-200:])
	}
	evs := vevents(got)
	if len(evs) != 32 {
		t.Fatalf("vevents = %d", len(evs))
	}
	wantSeries := crlf("BEGIN:VEVENT",
		"UID:"+uidFor(series),
		"SUMMARY:CHEM 101 Lecture",
		"STATUS:CONFIRMED",
		"LOCATION:Room 204 Camera",
		"SEQUENCE:12",
		"DTSTART;TZID=America/New_York:20250902T090000",
		"DTEND;TZID=America/New_York:20250902T101500",
		"CLASS:PUBLIC",
		"DTSTAMP:20250820T151003Z",
		"X-KALTURA-ID:"+itoa(series),
		"X-KALTURA-TYPE:1",
		"X-KALTURA-PARTNER-ID:1234567",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-OWNER-ID:jdoe",
		"X-KALTURA-RESOURCE-IDS:"+itoa(res),
		"X-KALTURA-TEMPLATE-ENTRY-ID:1_xy98zw76",
		"RRULE:FREQ=WEEKLY;UNTIL=20251216T150000Z;BYDAY=TU,TH",
		"END:VEVENT")
	if evs[0] != wantSeries {
		t.Errorf("series\n got:\n%s\nwant:\n%s", evs[0], wantSeries)
	}
	occID := series + 19 // the 19th occurrence is Tuesday 4 November, after the DST change
	wantOcc := crlf("BEGIN:VEVENT",
		"UID:"+uidFor(occID),
		"SUMMARY:CHEM 101 Lecture",
		"STATUS:CONFIRMED",
		"LOCATION:Room 204 Camera",
		"SEQUENCE:1",
		"DTSTART;TZID=America/New_York:20251104T090000",
		"DTEND;TZID=America/New_York:20251104T101500",
		"CLASS:PUBLIC",
		"DTSTAMP:20250820T151003Z",
		"X-KALTURA-ID:"+itoa(occID),
		"X-KALTURA-TYPE:1",
		"X-KALTURA-PARTNER-ID:1234567",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-OWNER-ID:jdoe",
		"X-KALTURA-PARENT-ID:"+itoa(series),
		"X-KALTURA-RESOURCE-IDS:"+itoa(res),
		"X-KALTURA-TEMPLATE-ENTRY-ID:1_xy98zw76",
		"RRULE:FREQ=WEEKLY;UNTIL=20251216T150000Z;BYDAY=TU,TH",
		"END:VEVENT")
	if evs[19] != wantOcc { // series, then occurrences 1..31 by start
		t.Errorf("occurrence\n got:\n%s\nwant:\n%s", evs[19], wantOcc)
	}
	// Stored rows: occurrences carry only their own dates.
	occ, _ := h.store.Event(pid, occID)
	if occ.Summary != "" || occ.TemplateEntryID != "" || occ.Recurrence != nil || occ.OwnerID != "" || occ.ParentID != series {
		t.Errorf("raw occurrence row has inherited fields: %+v", occ)
	}
	// Wall-clock time stays 09:00 across the DST change, so the UTC instant moves.
	ny, _ := time.LoadLocation("America/New_York")
	for _, o := range h.store.Occurrences(pid, series) {
		lt := time.Unix(o.StartDate, 0).In(ny)
		if lt.Hour() != 9 || lt.Minute() != 0 || (lt.Weekday() != time.Tuesday && lt.Weekday() != time.Thursday) {
			t.Errorf("occurrence %d starts %v", o.ID, lt)
		}
		if o.EndDate-o.StartDate != 4500 {
			t.Errorf("occurrence %d lasts %d", o.ID, o.EndDate-o.StartDate)
		}
	}
}

func TestSeriesLimits(t *testing.T) {
	h := newHarness(t, "2025-01-01T00:00:00Z")
	start := unix("2025-01-01T10:00:00Z")
	tests := []struct {
		name  string
		rec   schedule.Recurrence
		count int
		last  string
	}{
		{"1000 cap", schedule.Recurrence{Frequency: "hours"}, 1000, ""},
		{"two-year span", schedule.Recurrence{Frequency: "days", Until: unix("2030-01-01T00:00:00Z")}, 731, "2027-01-01T10:00:00Z"},
		{"count", schedule.Recurrence{Frequency: "days", Count: 5}, 5, "2025-01-05T10:00:00Z"},
		{"interval", schedule.Recurrence{Frequency: "weeks", Interval: 2, Count: 3}, 3, "2025-01-29T10:00:00Z"},
		{"monthly byDay", schedule.Recurrence{Frequency: "months", ByDay: "1MO", Count: 2}, 2, "2025-02-03T10:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			s := h.addEvent(schedule.Event{Summary: tc.name, StartDate: start, Duration: 600,
				RecurrenceType: schedule.RecurrenceRecurring, Recurrence: &rec})
			occ := h.store.Occurrences(pid, s.ID)
			if len(occ) != tc.count {
				t.Fatalf("occurrences = %d, want %d", len(occ), tc.count)
			}
			if tc.last != "" && occ[len(occ)-1].StartDate != unix(tc.last) {
				t.Errorf("last = %v, want %s", time.Unix(occ[len(occ)-1].StartDate, 0).UTC(), tc.last)
			}
		})
	}
}

func TestAddValidation(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	base := func() kapi.Params {
		return kapi.Params{
			"scheduleEvent:objectType":     "KalturaRecordScheduleEvent",
			"scheduleEvent:summary":        "x",
			"scheduleEvent:startDate":      itoa(unix("2025-09-02T10:00:00Z")),
			"scheduleEvent:endDate":        itoa(unix("2025-09-02T11:00:00Z")),
			"scheduleEvent:recurrenceType": "0",
		}
	}
	tests := []struct {
		name string
		edit func(p kapi.Params)
		code string
	}{
		{"ok", func(kapi.Params) {}, ""},
		{"longer than 24h", func(p kapi.Params) { p["scheduleEvent:endDate"] = itoa(unix("2025-09-03T10:00:01Z")) }, "MAX_SCHEDULE_DURATION_REACHED"},
		{"exactly 24h", func(p kapi.Params) { p["scheduleEvent:endDate"] = itoa(unix("2025-09-03T10:00:00Z")) }, ""},
		{"end before start", func(p kapi.Params) { p["scheduleEvent:endDate"] = itoa(unix("2025-09-02T09:00:00Z")) }, "INVALID_SCHEDULE_END_BEFORE_START"},
		{"no summary", func(p kapi.Params) { delete(p, "scheduleEvent:summary") }, "PROPERTY_VALIDATION_CANNOT_BE_NULL"},
		{"no end", func(p kapi.Params) { delete(p, "scheduleEvent:endDate") }, "PROPERTY_VALIDATION_CANNOT_BE_NULL"},
		{"no recurrenceType", func(p kapi.Params) { delete(p, "scheduleEvent:recurrenceType") }, "PROPERTY_VALIDATION_CANNOT_BE_NULL"},
		{"occurrence type", func(p kapi.Params) { p["scheduleEvent:recurrenceType"] = "2" }, "INVALID_ENUM_VALUE"},
		{"abstract", func(p kapi.Params) { p["scheduleEvent:objectType"] = "KalturaScheduleEvent" }, "OBJECT_TYPE_ABSTRACT"},
		{"series without recurrence", func(p kapi.Params) { p["scheduleEvent:recurrenceType"] = "1" }, "PROPERTY_VALIDATION_CANNOT_BE_NULL"},
		{"bad frequency", func(p kapi.Params) {
			p["scheduleEvent:recurrenceType"] = "1"
			p["scheduleEvent:recurrence:frequency"] = "fortnights"
		}, "INVALID_ENUM_VALUE"},
		{"series occurrence over 24h", func(p kapi.Params) {
			p["scheduleEvent:recurrenceType"] = "1"
			p["scheduleEvent:recurrence:frequency"] = "weeks"
			delete(p, "scheduleEvent:endDate")
			p["scheduleEvent:duration"] = "86401"
		}, "MAX_SCHEDULE_DURATION_REACHED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.edit(p)
			// Move each case to its own day so the template check cannot interfere.
			_, err := h.call("schedule_scheduleevent.add", p)
			if code(err) != tc.code {
				t.Errorf("code = %q (%v), want %q", code(err), err, tc.code)
			}
		})
	}
}

func TestScheduleTimeInUse(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	add := func(start, end string, rt int) error {
		_, err := h.store.AddEvent(pid, schedule.Event{Summary: "x", TemplateEntryID: "1_same",
			StartDate: unix(start), EndDate: unix(end), Duration: unix(end) - unix(start), RecurrenceType: rt,
			Recurrence: map[bool]*schedule.Recurrence{true: {Frequency: "days", Count: 2}}[rt == 1]})
		return err
	}
	if err := add("2025-09-02T10:00:00Z", "2025-09-02T11:00:00Z", 0); err != nil {
		t.Fatal(err)
	}
	if err := add("2025-09-02T10:30:00Z", "2025-09-02T11:30:00Z", 0); code(err) != "SCHEDULE_TIME_IN_USE" {
		t.Errorf("overlap: %v", err)
	}
	if err := add("2025-09-02T11:00:00Z", "2025-09-02T12:00:00Z", 0); err != nil {
		t.Errorf("adjacent: %v", err)
	}
	if err := add("2025-09-02T10:30:00Z", "2025-09-02T11:30:00Z", 1); err != nil {
		t.Errorf("a series is not checked: %v", err)
	}
}

// occurrenceDates returns id -> start of a series' occurrences.
func occurrenceDates(h *harness, series int64) map[int64]int64 {
	m := map[int64]int64{}
	for _, o := range h.store.Occurrences(pid, series) {
		m[o.ID] = o.StartDate
	}
	return m
}

func TestSeriesEditRecreatesChangedOccurrences(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	s := h.addEvent(schedule.Event{Summary: "Weekly", StartDate: unix("2025-09-01T10:00:00Z"), Duration: 3600,
		RecurrenceType: schedule.RecurrenceRecurring,
		Recurrence:     &schedule.Recurrence{Frequency: "weeks", ByDay: "MO,WE", Until: unix("2025-09-30T23:00:00Z")}})
	before := occurrenceDates(h, s.ID)
	if len(before) != 9 { // Mondays 1,8,15,22,29 and Wednesdays 3,10,17,24
		t.Fatalf("occurrences = %d", len(before))
	}
	if s.Sequence != 12 {
		t.Errorf("series sequence = %d, want 12", s.Sequence)
	}
	h.clock.Set(mustTime("2025-09-02T08:00:00Z"))
	// Drop Wednesdays, add Fridays: Mondays keep their rows, the rest are new.
	up := h.mustCall("schedule_scheduleevent.update", kapi.Params{
		"scheduleEventId":                    itoa(s.ID),
		"scheduleEvent:objectType":           "KalturaRecordScheduleEvent",
		"scheduleEvent:recurrence:byDay":     "MO,FR",
		"scheduleEvent:recurrence:frequency": "weeks",
	}).(*schedule.EventResponse)
	if up.Sequence != 22 {
		t.Errorf("sequence after update = %d, want 22", up.Sequence)
	}
	after := occurrenceDates(h, s.ID)
	kept, fresh := 0, 0
	for id, start := range after {
		wd := time.Unix(start, 0).UTC().Weekday()
		old, existed := before[id]
		switch {
		case wd == time.Monday:
			if !existed || old != start {
				t.Errorf("Monday occurrence %d got a new id", id)
			}
			kept++
		case wd == time.Friday:
			if existed {
				t.Errorf("Friday occurrence %d reuses an old id", id)
			}
			fresh++
		default:
			t.Errorf("unexpected occurrence on %v", wd)
		}
	}
	if kept != 5 || fresh != 4 {
		t.Errorf("kept %d (want 5), new %d (want 4)", kept, fresh)
	}
	for id := range before {
		if _, ok := after[id]; !ok {
			if _, still := h.store.Event(pid, id); still {
				t.Errorf("dropped occurrence %d is still stored (should be hard-deleted)", id)
			}
		}
	}
	// Moving the series by an hour changes every date: every id is new.
	h.mustCall("schedule_scheduleevent.update", kapi.Params{
		"scheduleEventId":         itoa(s.ID),
		"scheduleEvent:startDate": itoa(unix("2025-09-01T11:00:00Z")),
	})
	moved := occurrenceDates(h, s.ID)
	for id := range moved {
		if _, ok := after[id]; ok {
			t.Errorf("occurrence %d kept its id though its time changed", id)
		}
	}
	if len(moved) != 9 {
		t.Errorf("moved occurrences = %d", len(moved))
	}
	// An update that changes no time field keeps every occurrence.
	h.mustCall("schedule_scheduleevent.update", kapi.Params{"scheduleEventId": itoa(s.ID), "scheduleEvent:summary": "Renamed"})
	same := occurrenceDates(h, s.ID)
	if !mapsEqual(same, moved) {
		t.Error("summary-only update changed occurrences")
	}
	r := h.list(kapi.Params{"filter:parentIdEqual": itoa(s.ID), "filter:orderBy": "+startDate"})
	if r.TotalCount != 9 || r.Objects[0].Summary != "Renamed" {
		t.Errorf("occurrences inherit the new summary: %d %q", r.TotalCount, r.Objects[0].Summary)
	}
}

func mapsEqual(a, b map[int64]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSeriesCancelDeleteAndOccurrenceRules(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	mk := func() schedule.Event {
		return h.addEvent(schedule.Event{Summary: "S", StartDate: unix("2025-09-01T10:00:00Z"), Duration: 3600,
			RecurrenceType: schedule.RecurrenceRecurring, Recurrence: &schedule.Recurrence{Frequency: "days", Count: 3}})
	}
	s := mk()
	occ := h.store.Occurrences(pid, s.ID)
	// An occurrence can be cancelled on its own and still appears.
	h.mustCall("schedule_scheduleevent.cancel", kapi.Params{"scheduleEventId": itoa(occ[1].ID)})
	r := h.list(kapi.Params{"filter:parentIdEqual": itoa(s.ID)})
	if r.TotalCount != 3 || r.Objects[1].Status != schedule.StatusCancelled {
		t.Errorf("cancelled occurrence: %+v", r.Objects)
	}
	// An occurrence cannot be deleted.
	if _, err := h.call("schedule_scheduleevent.delete", kapi.Params{"scheduleEventId": itoa(occ[0].ID)}); code(err) != "RECURRENCE_CANT_BE_DELETE" {
		t.Errorf("delete occurrence: %v", err)
	}
	// Cancelling the series hard-deletes its occurrences; the series stays, CANCELLED.
	h.mustCall("schedule_scheduleevent.cancel", kapi.Params{"scheduleEventId": itoa(s.ID)})
	if n := len(h.store.Occurrences(pid, s.ID)); n != 0 {
		t.Errorf("occurrences after cancel = %d", n)
	}
	r = h.list(nil)
	if r.TotalCount != 1 || r.Objects[0].ID != s.ID || r.Objects[0].Status != schedule.StatusCancelled {
		t.Errorf("after cancel: %+v", ids(r))
	}
	// Deleting a series hides it and removes the occurrences; get fails.
	s2 := mk()
	h.mustCall("schedule_scheduleevent.delete", kapi.Params{"scheduleEventId": itoa(s2.ID)})
	if len(h.store.Occurrences(pid, s2.ID)) != 0 {
		t.Error("occurrences survive series delete")
	}
	if _, err := h.call("schedule_scheduleevent.get", kapi.Params{"scheduleEventId": itoa(s2.ID)}); code(err) != "INVALID_OBJECT_ID" {
		t.Errorf("get deleted: %v", err)
	}
	raw, ok := h.store.Event(pid, s2.ID)
	if !ok || raw.Status != schedule.StatusDeleted {
		t.Errorf("deleted row: %+v %v", raw, ok)
	}
	if slices.Contains(ids(h.list(nil)), s2.ID) {
		t.Error("DELETED event listed")
	}
	// Updating a series to a single event removes its occurrences and resets the sequence.
	s3 := mk()
	up := h.mustCall("schedule_scheduleevent.update", kapi.Params{"scheduleEventId": itoa(s3.ID), "scheduleEvent:recurrenceType": "0"}).(*schedule.EventResponse)
	if up.Sequence != 1 || up.Recurrence != nil || len(h.store.Occurrences(pid, s3.ID)) != 0 {
		t.Errorf("series to single: seq %d rec %v", up.Sequence, up.Recurrence)
	}
	// An occurrence cannot become a series.
	s4 := mk()
	o4 := h.store.Occurrences(pid, s4.ID)[0]
	if _, err := h.call("schedule_scheduleevent.update", kapi.Params{"scheduleEventId": itoa(o4.ID), "scheduleEvent:recurrenceType": "1"}); code(err) != "SCHEDULE_EVENT_TYPE_CANT_BE_UPDATED" {
		t.Errorf("occurrence to series: %v", err)
	}
	// Unknown ids.
	for _, a := range []string{"get", "cancel", "delete", "update"} {
		if _, err := h.call("schedule_scheduleevent."+a, kapi.Params{"scheduleEventId": "99"}); code(err) != "INVALID_OBJECT_ID" {
			t.Errorf("%s unknown: %v", a, err)
		}
	}
	if _, err := h.call("schedule_scheduleevent.get", nil); code(err) != "MISSING_MANDATORY_PARAMETER" {
		t.Errorf("get without id: %v", err)
	}
	// Another partner does not see the events.
	other := h.caller
	other.PartnerID = 99
	if _, err := h.actions["schedule_scheduleevent.get"](other, kapi.Params{"scheduleEventId": itoa(s.ID)}); code(err) != "INVALID_OBJECT_ID" {
		t.Errorf("cross-partner get: %v", err)
	}
}
