package schedule_test

import (
	"crypto/sha1"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// uidFor computes the generated UID independently of the package.
func uidFor(id int64) string {
	sum := sha1.Sum([]byte(itoa(id)))
	h := hex.EncodeToString(sum[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestGeneratedUIDShape(t *testing.T) {
	for _, id := range []int64{1, 7340000, 7341019} {
		u := schedule.GeneratedUID(id)
		if !uuidShape.MatchString(u) || u != uidFor(id) {
			t.Errorf("GeneratedUID(%d) = %q, want %q", id, u, uidFor(id))
		}
	}
	if schedule.GeneratedUID(1) == schedule.GeneratedUID(2) {
		t.Error("UIDs of different ids are equal")
	}
}

// setupExampleA builds kaltura.md §1 Example A through the API.
func setupExampleA(t *testing.T) (*harness, int64, int64) {
	h := newHarness(t, "2025-09-01T08:03:12Z")
	res := h.addResource("Hall B Lectern Cam", schedule.ResourceCamera, 0)
	h.store.SetCategory(pid, 301, "12>300>301")
	h.store.SetCategory(pid, 305, "12>300>305")
	v := h.mustCall("schedule_scheduleevent.add", kapi.Params{
		"scheduleEvent:objectType":      "KalturaRecordScheduleEvent",
		"scheduleEvent:summary":         "BIO 210 - Guest lecture",
		"scheduleEvent:startDate":       itoa(unix("2025-09-15T13:00:00Z")),
		"scheduleEvent:endDate":         itoa(unix("2025-09-15T14:15:00Z")),
		"scheduleEvent:recurrenceType":  "0",
		"scheduleEvent:templateEntryId": "1_ab12cd34",
		"scheduleEvent:categoryIds":     "301,305",
		"scheduleEvent:resourceIds":     itoa(res),
	}).(*schedule.EventResponse)
	return h, v.ID, res
}

func TestICalExampleA(t *testing.T) {
	h, id, res := setupExampleA(t)
	got := h.ical(kapi.Params{"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:resourceIdsLike": itoa(res)})
	want := crlf(
		"BEGIN:VCALENDAR",
		"BEGIN:VEVENT",
		"UID:"+uidFor(id),
		"SUMMARY:BIO 210 - Guest lecture",
		"STATUS:CONFIRMED",
		"LOCATION:Hall B Lectern Cam",
		"SEQUENCE:12",
		"DTSTART:20250915T130000Z",
		"DTEND:20250915T141500Z",
		"CLASS:PUBLIC",
		"DTSTAMP:20250901T080312Z",
		"X-KALTURA-ID:"+itoa(id),
		"X-KALTURA-TYPE:1",
		"X-KALTURA-PARTNER-ID:1234567",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-OWNER-ID:scheduler@uni.example",
		"X-KALTURA-RESOURCE-IDS:"+itoa(res),
		"X-KALTURA-TEMPLATE-ENTRY-ID:1_ab12cd34",
		"X-KALTURA-CATEGORY-IDS:301,305",
		"RELATED-TO:12>300>301;12>300>305",
		"END:VEVENT",
		"X-KALTURA-TOTAL-COUNT:1",
		"END:VCALENDAR",
	)
	if got != want {
		t.Errorf("ical mismatch\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestICalLegacyFormat(t *testing.T) {
	h, id, res := setupExampleA(t)
	h.caller.LegacyICal = true
	got := h.ical(kapi.Params{"filter:resourceIdsLike": itoa(res)})
	want := crlf(
		"BEGIN:VCALENDAR",
		"BEGIN:VEVENT",
		"SUMMARY:BIO 210 - Guest lecture",
		"STATUS:2",
		"SEQUENCE:12",
		"DURATION:PT1H15M0S",
		"DTSTART:20250915T130000Z",
		"DTEND:20250915T141500Z",
		"CLASS:PUBLIC",
		"DTSTAMP:20250901T080312Z",
		"X-KALTURA-ID:"+itoa(id),
		"X-KALTURA-TYPE:1",
		"X-KALTURA-PARTNER-ID:1234567",
		"X-KALTURA-STATUS:2",
		"X-KALTURA-OWNER-ID:scheduler@uni.example",
		"X-KALTURA-RESOURCE-IDS:"+itoa(res),
		"X-KALTURA-TEMPLATE-ENTRY-ID:1_ab12cd34",
		"X-KALTURA-CATEGORY-IDS:301,305",
		"RELATED-TO:12>300>301;12>300>305",
		"END:VEVENT",
		"X-KALTURA-TOTAL-COUNT:1",
		"END:VCALENDAR",
	)
	if got != want {
		t.Errorf("legacy ical mismatch\n got:\n%s\nwant:\n%s", got, want)
	}
	// The partner switch gives the same result as the caller's.
	h.caller.LegacyICal = false
	h.store.SetPartnerOptions(pid, schedule.PartnerOptions{LegacyICal: true})
	if got2 := h.ical(kapi.Params{"filter:resourceIdsLike": itoa(res)}); got2 != want {
		t.Errorf("partner legacy switch: got\n%s", got2)
	}
}

func TestICalProdIDVariant(t *testing.T) {
	h, _, _ := setupExampleA(t)
	h.store.SetPartnerOptions(pid, schedule.PartnerOptions{ProdID: "20.14.0"})
	got := h.ical(nil)
	if !strings.HasPrefix(got, crlf("BEGIN:VCALENDAR", "PRODID:-//Kaltura Inc//Kaltura Server 20.14.0//EN", "VERSION:2.0", "BEGIN:VEVENT")) {
		t.Errorf("PRODID variant header wrong:\n%s", got)
	}
	h.store.SetPartnerOptions(pid, schedule.PartnerOptions{})
	got = h.ical(nil)
	if strings.Contains(got, "PRODID") || strings.Contains(got, "VERSION") {
		t.Errorf("current format must have no PRODID/VERSION:\n%s", got)
	}
}

func TestICalNoFoldingNoEscaping(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	summary := "Lab, part 1; intro \\ overview " + strings.Repeat("x", 120)
	desc := "line one\nline two, with; specials\\\r\nthird"
	ev := h.addEvent(schedule.Event{Summary: summary, Description: desc, Location: "Room 1, west wing",
		StartDate: unix("2025-09-02T10:00:00Z"), EndDate: unix("2025-09-02T11:00:00Z")})
	got := h.ical(nil)
	for _, want := range []string{
		"\r\nSUMMARY:" + summary + "\r\n",
		"\r\nDESCRIPTION:" + desc + "\r\n",
		"\r\nLOCATION:Room 1, west wing\r\n",
		"\r\nUID:" + uidFor(ev.ID) + "\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestICalVEventPropertyOrder(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	res := h.addResource("Cam", schedule.ResourceCamera, 0)
	h.store.SetCategory(pid, 7, "1>7")
	series := h.addEvent(schedule.Event{
		Type: schedule.TypeRecord, Summary: "S", Description: "D", ReferenceID: "ref-1",
		GeoLatitude: 32.5, GeoLongitude: 34.75, Location: "L", Priority: 3, Contact: "C", Comment: "K", Organizer: "mailto:o@x",
		ClassificationType: schedule.ClassPrivate, OwnerID: "own", Tags: "t1,t2", TemplateEntryID: "1_tmpl", EntryIDs: "1_a,1_b", CategoryIDs: "7",
		ResourceIDs:    []int64{res},
		StartDate:      unix("2025-09-01T12:00:00Z"),
		Duration:       3600,
		RecurrenceType: schedule.RecurrenceRecurring,
		Recurrence: &schedule.Recurrence{Frequency: "weeks", Until: unix("2025-09-30T00:00:00Z"), Name: "Weekly",
			Interval: 1, ByDay: "MO", ByHour: "12", ByMinute: "0", BySecond: "0", ByMonthDay: "", ByMonth: "9", ByOffset: "", WeekStartDay: "MO",
			TimeZone: "UTC"},
	})
	got := h.ical(kapi.Params{"filter:idEqual": itoa(series.ID)})
	var names []string
	for _, l := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
		names = append(names, strings.SplitN(strings.SplitN(l, ":", 2)[0], ";", 2)[0])
	}
	want := []string{"BEGIN", "BEGIN", "UID", "SUMMARY", "DESCRIPTION", "STATUS", "GEOLATITUDE", "GEOLONGITUDE", "LOCATION",
		"PRIORITY", "SEQUENCE", "CONTACT", "COMMENT", "ORGANIZER", "DTSTART", "DTEND", "CLASS", "DTSTAMP",
		"X-KALTURA-ID", "X-KALTURA-TYPE", "X-KALTURA-PARTNER-ID", "X-KALTURA-STATUS", "X-KALTURA-OWNER-ID",
		"X-KALTURA-RESOURCE-IDS", "X-KALTURA-TAGS", "X-KALTURA-TEMPLATE-ENTRY-ID", "X-KALTURA-ENTRY-IDS",
		"X-KALTURA-CATEGORY-IDS", "RELATED-TO", "RRULE", "END", "X-KALTURA-TOTAL-COUNT", "END"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("property order\n got %v\nwant %v\n%s", names, want, got)
	}
	for _, line := range []string{
		"UID:ref-1", "GEOLATITUDE:32.5", "GEOLONGITUDE:34.75", "PRIORITY:3", "CLASS:PRIVATE",
		"DTSTART:20250901T120000Z", // "UTC" is not an IANA zone with a TZID form: UTC dates
		"RRULE:FREQ=WEEKLY;UNTIL=20250930T000000Z;NAME=Weekly;INTERVAL=1;BYHOUR=12;BYDAY=MO;BYMONTH=9;WKST=MO",
	} {
		if !strings.Contains(got, "\r\n"+line+"\r\n") {
			t.Errorf("missing line %q in\n%s", line, got)
		}
	}
	// An occurrence: parent id and UID after OWNER-ID, shares the UID, inherits the rest.
	occ := h.store.Occurrences(pid, series.ID)
	if len(occ) != 5 { // Sep 1, 8, 15, 22, 29
		t.Fatalf("occurrences = %d, want 5", len(occ))
	}
	got = h.ical(kapi.Params{"filter:idEqual": itoa(occ[2].ID)})
	for _, line := range []string{
		"UID:ref-1", "SUMMARY:S", "SEQUENCE:1", "DTSTART:20250915T120000Z", "DTEND:20250915T130000Z",
		"X-KALTURA-OWNER-ID:own\r\nX-KALTURA-PARENT-ID:" + itoa(series.ID) + "\r\nX-KALTURA-PARENT-UID:ref-1\r\nX-KALTURA-RESOURCE-IDS:" + itoa(res),
		"X-KALTURA-TEMPLATE-ENTRY-ID:1_tmpl", "RELATED-TO:1>7",
		"RRULE:FREQ=WEEKLY;UNTIL=20250930T000000Z;NAME=Weekly;INTERVAL=1;BYHOUR=12;BYDAY=MO;BYMONTH=9;WKST=MO",
	} {
		if !strings.Contains(got, "\r\n"+line+"\r\n") {
			t.Errorf("occurrence missing %q in\n%s", line, got)
		}
	}
}

func TestICalDurationAndFalsyFields(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	h.addEvent(schedule.Event{Summary: "Blackout", Type: schedule.TypeBlackout, TemplateEntryID: "1_ignored",
		StartDate: unix("2025-09-02T10:00:00Z"), EndDate: unix("2025-09-02T12:30:05Z")})
	got := h.ical(nil)
	for _, absent := range []string{"DURATION", "PRIORITY", "LOCATION", "X-KALTURA-TEMPLATE-ENTRY-ID", "X-KALTURA-TAGS", "RRULE", "X-KALTURA-PARENT-ID"} {
		if strings.Contains(got, "\r\n"+absent) {
			t.Errorf("%s must not be written:\n%s", absent, got)
		}
	}
	if !strings.Contains(got, "\r\nX-KALTURA-OWNER-ID:\r\n") {
		t.Errorf("empty owner must still be written:\n%s", got)
	}
	if !strings.Contains(got, "\r\nX-KALTURA-TYPE:3\r\n") {
		t.Errorf("blackout type:\n%s", got)
	}
	h.caller.LegacyICal = true
	if got := h.ical(nil); !strings.Contains(got, "\r\nDURATION:PT2H30M5S\r\n") {
		t.Errorf("legacy DURATION:\n%s", got)
	}
}

func TestICalCancelledStatus(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	ev := h.addEvent(schedule.Event{Summary: "X", StartDate: unix("2025-09-02T10:00:00Z"), EndDate: unix("2025-09-02T11:00:00Z")})
	if _, err := h.store.CancelEvent(pid, ev.ID); err != nil {
		t.Fatal(err)
	}
	got := h.ical(nil)
	if !strings.Contains(got, "\r\nSTATUS:CANCELLED\r\n") || !strings.Contains(got, "\r\nX-KALTURA-STATUS:1\r\n") {
		t.Errorf("cancelled:\n%s", got)
	}
	h.caller.LegacyICal = true
	if got := h.ical(nil); !strings.Contains(got, "\r\nSTATUS:1\r\n") {
		t.Errorf("legacy cancelled:\n%s", got)
	}
}

func TestICalError(t *testing.T) {
	got := string(schedule.ICalError(kapi.Errorf("INVALID_KS", `Invalid KS "EXPIRED", Error "-1,INVALID_STR"`,
		"KSID", "EXPIRED", "ERR_CODE", "-1", "ERR_DESC", "INVALID_STR")))
	want := crlf("BEGIN:VCALENDAR", "BEGIN:VERROR", "X-KALTURA-CODE:INVALID_KS",
		`X-KALTURA-MESSAGE:Invalid KS "EXPIRED", Error "-1,INVALID_STR"`,
		"X-KALTURA-ARGUMENTS:EXPIRED;-1;INVALID_STR", "END:VERROR", "END:VCALENDAR")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = string(schedule.ICalError(kapi.Errorf("QUERY_EXCEEDED_MAX_MATCHES_ALLOWED", "Unable to generate list. max matches value was reached")))
	if strings.Contains(got, "X-KALTURA-ARGUMENTS") || !strings.Contains(got, "X-KALTURA-CODE:QUERY_EXCEEDED_MAX_MATCHES_ALLOWED\r\n") {
		t.Errorf("no-args error:\n%s", got)
	}
}

func TestICalGetSingleEvent(t *testing.T) {
	h, id, _ := setupExampleA(t)
	v := h.mustCall("schedule_scheduleevent.get", kapi.Params{"scheduleEventId": itoa(id)})
	got := string(v.(kapi.ICal).ICal())
	if !strings.HasPrefix(got, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n") || !strings.HasSuffix(got, "END:VEVENT\r\nEND:VCALENDAR\r\n") ||
		strings.Contains(got, "TOTAL-COUNT") {
		t.Errorf("get calendar:\n%s", got)
	}
}
