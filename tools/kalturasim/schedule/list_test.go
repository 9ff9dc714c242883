package schedule_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

type fixture struct {
	h                                     *harness
	now                                   int64
	loc, c1, c2                           int64
	e1, e2, e3, e4, e5, e6, s, o1, o2, o3 int64
}

func newFixture(t *testing.T) *fixture {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	f := &fixture{h: h, now: h.clock.Now().Unix()}
	f.loc = h.addResource("Building A", schedule.ResourceLocation, 0)
	f.c1 = h.addResource("A-101 Camera", schedule.ResourceCamera, f.loc)
	f.c2 = h.addResource("Lab Camera", schedule.ResourceCamera, 0)
	at := func(d time.Duration) int64 { return f.now + int64(d/time.Second) }
	f.e1 = h.addEvent(schedule.Event{Summary: "Alpha", Type: schedule.TypeRecord, ResourceIDs: []int64{f.c1}, Tags: "math,physics",
		TemplateEntryID: "1_t1", Priority: 5, ReferenceID: "r1", OwnerID: "u1", StartDate: at(time.Hour), EndDate: at(2 * time.Hour)}).ID
	f.e2 = h.addEvent(schedule.Event{Summary: "Blackout", Type: schedule.TypeBlackout, ResourceIDs: []int64{f.c1},
		StartDate: at(2 * time.Hour), EndDate: at(3 * time.Hour)}).ID
	f.e3 = h.addEvent(schedule.Event{Summary: "Live", Type: schedule.TypeLiveStream, ResourceIDs: []int64{f.c2},
		StartDate: at(72 * time.Hour), EndDate: at(73 * time.Hour)}).ID
	s := h.addEvent(schedule.Event{Summary: "Series", Type: schedule.TypeRecord, ResourceIDs: []int64{f.c2}, TemplateEntryID: "1_t2",
		StartDate: at(24 * time.Hour), Duration: 1800, RecurrenceType: schedule.RecurrenceRecurring,
		Recurrence: &schedule.Recurrence{Frequency: "days", Count: 3}})
	f.s = s.ID
	occ := h.store.Occurrences(pid, f.s)
	f.o1, f.o2, f.o3 = occ[0].ID, occ[1].ID, occ[2].ID
	f.e4 = h.addEvent(schedule.Event{Summary: "Cancelled", Type: schedule.TypeRecord, ResourceIDs: []int64{f.c1},
		StartDate: at(5 * time.Hour), EndDate: at(6 * time.Hour)}).ID
	if _, err := h.store.CancelEvent(pid, f.e4); err != nil {
		t.Fatal(err)
	}
	f.e5 = h.addEvent(schedule.Event{Summary: "Deleted", Type: schedule.TypeRecord, ResourceIDs: []int64{f.c1},
		StartDate: at(7 * time.Hour), EndDate: at(8 * time.Hour)}).ID
	if _, err := h.store.DeleteEvent(pid, f.e5); err != nil {
		t.Fatal(err)
	}
	f.e6 = h.addEvent(schedule.Event{Summary: "Past", Type: schedule.TypeRecord,
		StartDate: at(-48 * time.Hour), EndDate: at(-47 * time.Hour)}).ID
	return f
}

func sorted(v ...int64) []int64 { slices.Sort(v); return v }

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	all := sorted(f.e1, f.e2, f.e3, f.s, f.o1, f.o2, f.o3, f.e4, f.e6)
	s := itoa
	tests := []struct {
		name string
		p    kapi.Params
		want []int64
	}{
		{"no filter: all but DELETED", nil, all},
		{"record filter", kapi.Params{"filter:objectType": "KalturaRecordScheduleEventFilter"}, sorted(f.e1, f.s, f.o1, f.o2, f.o3, f.e4, f.e6)},
		{"blackout filter", kapi.Params{"filter:objectType": "KalturaBlackoutScheduleEventFilter"}, []int64{f.e2}},
		{"base filter: all types", kapi.Params{"filter:objectType": "KalturaScheduleEventBaseFilter"}, all},
		{"resourceIdsLike own", kapi.Params{"filter:objectType": "KalturaScheduleEventFilter", "filter:resourceIdsLike": s(f.c1)}, sorted(f.e1, f.e2, f.e4)},
		{"resourceIdsLike via parent", kapi.Params{"filter:resourceIdsLike": s(f.c2)}, sorted(f.e3, f.s, f.o1, f.o2, f.o3)},
		{"resourceIdsLike is a word match", kapi.Params{"filter:resourceIdsLike": s(f.c1)[:1]}, []int64{}},
		{"resourceIdsMultiLikeOr", kapi.Params{"filter:resourceIdsMultiLikeOr": s(f.c1) + "," + s(f.c2)}, sorted(f.e1, f.e2, f.e4, f.e3, f.s, f.o1, f.o2, f.o3)},
		{"resourceIdsMultiLikeAnd", kapi.Params{"filter:resourceIdsMultiLikeAnd": s(f.c1) + "," + s(f.c2)}, []int64{}},
		{"parentResourceIdsLike (ancestor)", kapi.Params{"filter:parentResourceIdsLike": s(f.loc)}, sorted(f.e1, f.e2, f.e4)},
		{"base filter ignores resourceIdsLike", kapi.Params{"filter:objectType": "KalturaScheduleEventBaseFilter", "filter:resourceIdsLike": s(f.c1)}, all},
		{"resourceIdEqual compares the index string (no ancestors)", kapi.Params{"filter:resourceIdEqual": s(f.c2)}, sorted(f.e3, f.s, f.o1, f.o2, f.o3)},
		{"resourceIdEqual with an ancestor never matches", kapi.Params{"filter:resourceIdEqual": s(f.c1)}, []int64{}},
		{"recurrenceTypeIn 0,2", kapi.Params{"filter:recurrenceTypeIn": "0,2"}, sorted(f.e1, f.e2, f.e3, f.o1, f.o2, f.o3, f.e4, f.e6)},
		{"recurrenceTypeEqual 1", kapi.Params{"filter:recurrenceTypeEqual": "1"}, []int64{f.s}},
		{"statusEqual 1", kapi.Params{"filter:statusEqual": "1"}, []int64{f.e4}},
		{"statusIn 1,2", kapi.Params{"filter:statusIn": "1,2"}, all},
		{"statusEqual 3 finds nothing", kapi.Params{"filter:statusEqual": "3"}, []int64{}},
		{"idEqual deleted", kapi.Params{"filter:idEqual": s(f.e5)}, []int64{}},
		{"idEqual", kapi.Params{"filter:idEqual": s(f.e3)}, []int64{f.e3}},
		{"idIn", kapi.Params{"filter:idIn": s(f.e1) + "," + s(f.e2) + ",1"}, sorted(f.e1, f.e2)},
		{"idNotIn", kapi.Params{"filter:idNotIn": s(f.e1) + "," + s(f.e2)}, sorted(f.e3, f.s, f.o1, f.o2, f.o3, f.e4, f.e6)},
		{"parentIdEqual", kapi.Params{"filter:parentIdEqual": s(f.s)}, sorted(f.o1, f.o2, f.o3)},
		{"parentIdIn", kapi.Params{"filter:parentIdIn": s(f.s)}, sorted(f.o1, f.o2, f.o3)},
		{"templateEntryIdEqual misses occurrences", kapi.Params{"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:templateEntryIdEqual": "1_t2"}, []int64{f.s}},
		{"templateEntryIdEqual ignored by the plain filter", kapi.Params{"filter:templateEntryIdEqual": "1_t2"}, all},
		{"tagsLike", kapi.Params{"filter:tagsLike": "math"}, []int64{f.e1}},
		{"tagsMultiLikeOr", kapi.Params{"filter:tagsMultiLikeOr": "zzz,physics"}, []int64{f.e1}},
		{"tagsMultiLikeAnd", kapi.Params{"filter:tagsMultiLikeAnd": "zzz,physics"}, []int64{}},
		{"priorityGreaterThanOrEqual", kapi.Params{"filter:priorityGreaterThanOrEqual": "5"}, []int64{f.e1}},
		{"priorityLessThanOrEqual", kapi.Params{"filter:priorityLessThanOrEqual": "4", "filter:idIn": s(f.e1) + "," + s(f.e2)}, []int64{f.e2}},
		{"referenceIdEqual", kapi.Params{"filter:referenceIdEqual": "r1"}, []int64{f.e1}},
		{"ownerIdIn", kapi.Params{"filter:ownerIdIn": "u1,u2"}, []int64{f.e1}},
		{"startDate window (absolute)", kapi.Params{"filter:startDateGreaterThanOrEqual": s(f.now + 3600), "filter:startDateLessThanOrEqual": s(f.now + 7200)}, sorted(f.e1, f.e2)},
		{"endDateGreaterThanOrEqual now (absolute)", kapi.Params{"filter:endDateGreaterThanOrEqual": s(f.now)}, sorted(f.e1, f.e2, f.e3, f.s, f.o1, f.o2, f.o3, f.e4)},
		{"recommended query", kapi.Params{
			"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:resourceIdsLike": s(f.c2),
			"filter:recurrenceTypeIn": "0,2", "filter:statusIn": "1,2",
			"filter:endDateGreaterThanOrEqual": s(f.now), "filter:startDateLessThanOrEqual": s(f.now + 14*86400),
			"filter:orderBy": "+startDate", "pager:pageSize": "500"}, sorted(f.o1, f.o2, f.o3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.h.list(tc.p)
			got := sorted(ids(r)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if r.TotalCount != len(tc.want) {
				t.Errorf("totalCount %d, want %d", r.TotalCount, len(tc.want))
			}
		})
	}
	if _, err := f.h.call("schedule_scheduleevent.list", kapi.Params{"filter:objectType": "KalturaMediaEntryFilter"}); code(err) != "INVALID_OBJECT_TYPE" {
		t.Errorf("foreign filter class: %v", err)
	}
	if _, err := f.h.call("schedule_scheduleevent.list", kapi.Params{"filter:idEqual": "abc"}); err == nil {
		t.Error("non-integer idEqual accepted")
	}
}

func TestListUpdatedAtDelta(t *testing.T) {
	f := newFixture(t)
	f.h.clock.Set(time.Unix(f.now+600, 0))
	if _, err := f.h.store.UpdateEvent(pid, f.e3, func(e *schedule.Event) { e.Summary = "Live (moved)" }); err != nil {
		t.Fatal(err)
	}
	r := f.h.list(kapi.Params{"filter:updatedAtGreaterThanOrEqual": itoa(f.now + 1)})
	if got := ids(r); !slices.Equal(got, []int64{f.e3}) {
		t.Errorf("updatedAt delta = %v, want [%d]", got, f.e3)
	}
}

func TestListOrderBy(t *testing.T) {
	f := newFixture(t)
	first := func(order string) int64 {
		r := f.h.list(kapi.Params{"filter:orderBy": order, "filter:recurrenceTypeIn": "0,1"})
		return r.Objects[0].ID
	}
	tests := []struct {
		order string
		want  int64
	}{
		{"+startDate", f.e6},
		{"-startDate", f.e3},
		{"+summary", f.e1},  // Alpha
		{"-summary", f.s},   // Series
		{"-priority", f.e1}, // 5
		{"+endDate", f.e6},
		{"-createdAt,+startDate", f.e6},
		{"", f.e1}, // by id
	}
	for _, tc := range tests {
		if got := first(tc.order); got != tc.want {
			t.Errorf("orderBy %q: first %d, want %d", tc.order, got, tc.want)
		}
	}
	// Occurrences sort on their stored (null) summary: before everything.
	r := f.h.list(kapi.Params{"filter:orderBy": "+summary"})
	if r.Objects[0].ParentID != f.s {
		t.Errorf("+summary: occurrences (null summary) first; got %d", r.Objects[0].ID)
	}
}

func TestListPaging(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	h.store.GenerateEvents(pid, 0, 45, h.clock.Now(), schedule.GenerateOptions{})
	tests := []struct {
		size, index string
		n           int
		first       int // 0-based position of the first object
		code        string
	}{
		{"", "", 30, 0, ""},
		{"", "2", 15, 30, ""},
		{"10", "3", 10, 20, ""},
		{"1000", "", 45, 0, ""}, // clamped to 500
		{"", "0", 30, 0, ""},
		{"", "-3", 30, 0, ""},
		{"0", "", 30, 0, ""},
		{"20", "3", 5, 40, ""},
		{"20", "4", 0, 0, ""},
		{"500", "20", 0, 0, ""}, // offset 9500
		{"500", "21", 0, 0, "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED"}, // offset 10000
		{"100", "101", 0, 0, "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED"},
		{"30", "334", 0, 0, ""}, // offset 9990
		{"30", "335", 0, 0, "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED"},
		{"1000", "21", 0, 0, "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED"}, // 500 after clamping
		{"1000", "20", 0, 0, ""},
	}
	all := ids(h.list(kapi.Params{"pager:pageSize": "500"}))
	if len(all) != 45 {
		t.Fatalf("all = %d", len(all))
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("size=%s,index=%s", tc.size, tc.index), func(t *testing.T) {
			p := kapi.Params{}
			if tc.size != "" {
				p["pager:pageSize"] = tc.size
			}
			if tc.index != "" {
				p["pager:pageIndex"] = tc.index
			}
			v, err := h.call("schedule_scheduleevent.list", p)
			if code(err) != tc.code {
				t.Fatalf("code %q (%v), want %q", code(err), err, tc.code)
			}
			if err != nil {
				return
			}
			r := v.(*schedule.ListResponse)
			if len(r.Objects) != tc.n || r.TotalCount != 45 {
				t.Fatalf("objects %d total %d, want %d/45", len(r.Objects), r.TotalCount, tc.n)
			}
			if tc.n > 0 && r.Objects[0].ID != all[tc.first] {
				t.Errorf("first %d, want %d", r.Objects[0].ID, all[tc.first])
			}
		})
	}
	// TOTAL-COUNT in iCal is the total before paging.
	if got := h.ical(kapi.Params{"pager:pageSize": "5"}); !strings.Contains(got, "\r\nX-KALTURA-TOTAL-COUNT:45\r\n") || len(vevents(got)) != 5 {
		t.Errorf("paged ical: %d events", len(vevents(got)))
	}
}

func TestRelativeTime(t *testing.T) {
	f := newFixture(t)
	s := itoa
	tests := []struct {
		name       string
		p          kapi.Params
		noRelative bool
		want       []int64
	}{
		{"0 is now", kapi.Params{"filter:startDateGreaterThanOrEqual": "0", "filter:recurrenceTypeIn": "0"}, false, sorted(f.e1, f.e2, f.e3, f.e4)},
		{"now+2h", kapi.Params{"filter:startDateLessThanOrEqual": "7200", "filter:startDateGreaterThanOrEqual": "0"}, false, sorted(f.e1, f.e2)},
		{"negative relative", kapi.Params{"filter:startDateGreaterThanOrEqual": "-172800", "filter:startDateLessThanOrEqual": "-1000"}, false, []int64{f.e6}},
		{"-1 is literal", kapi.Params{"filter:endDateGreaterThanOrEqual": "-1", "filter:recurrenceTypeIn": "0"}, false, sorted(f.e1, f.e2, f.e3, f.e4, f.e6)},
		{"-2 is relative", kapi.Params{"filter:endDateGreaterThanOrEqual": "-2", "filter:recurrenceTypeIn": "0"}, false, sorted(f.e1, f.e2, f.e3, f.e4)},
		{"ten years is relative", kapi.Params{"filter:startDateLessThanOrEqual": "315360000", "filter:recurrenceTypeIn": "0"}, false, sorted(f.e1, f.e2, f.e3, f.e4, f.e6)},
		{"past ten years is absolute (1979)", kapi.Params{"filter:startDateLessThanOrEqual": "315360001"}, false, []int64{}},
		{"absolute", kapi.Params{"filter:startDateGreaterThanOrEqual": s(f.now), "filter:recurrenceTypeIn": "0"}, false, sorted(f.e1, f.e2, f.e3, f.e4)},
		{"off: 0 is 1970", kapi.Params{"filter:endDateGreaterThanOrEqual": "0", "filter:recurrenceTypeIn": "0"}, true, sorted(f.e1, f.e2, f.e3, f.e4, f.e6)},
		{"off: 14 days is 15 Jan 1970", kapi.Params{"filter:endDateGreaterThanOrEqual": "0", "filter:startDateLessThanOrEqual": "1209600"}, true, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.h.store.SetPartnerOptions(pid, schedule.PartnerOptions{DisableRelativeTime: tc.noRelative})
			got := sorted(ids(f.h.list(tc.p))...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	f.h.store.SetPartnerOptions(pid, schedule.PartnerOptions{})
	// A KS reftime privilege shifts "now".
	f.h.caller.Privileges = []string{"reftime:" + s(f.now+70*3600)}
	got := sorted(ids(f.h.list(kapi.Params{"filter:startDateGreaterThanOrEqual": "0", "filter:recurrenceTypeIn": "0"}))...)
	if !slices.Equal(got, []int64{f.e3}) {
		t.Errorf("reftime: got %v, want [%d]", got, f.e3)
	}
	f.h.caller.Privileges = nil
	// Relative times apply to event dates sent to add, too.
	v := f.h.mustCall("schedule_scheduleevent.add", kapi.Params{
		"scheduleEvent:objectType": "KalturaRecordScheduleEvent", "scheduleEvent:summary": "rel",
		"scheduleEvent:startDate": "86400", "scheduleEvent:endDate": "90000", "scheduleEvent:recurrenceType": "0",
	}).(*schedule.EventResponse)
	if v.StartDate != f.now+86400 || v.EndDate != f.now+90000 {
		t.Errorf("relative add: %d..%d", v.StartDate-f.now, v.EndDate-f.now)
	}
}

func TestListJSON(t *testing.T) {
	f := newFixture(t)
	m := mustJSON(t, f.h.list(kapi.Params{"filter:idIn": itoa(f.e2) + "," + itoa(f.o1), "filter:orderBy": "+id"}))
	if m["objectType"] != "KalturaScheduleEventListResponse" || m["totalCount"] != float64(2) {
		t.Fatalf("list JSON: %v", m)
	}
	objs := m["objects"].([]any)
	types := map[string]map[string]any{}
	for _, o := range objs {
		om := o.(map[string]any)
		types[om["objectType"].(string)] = om
	}
	bo := types["KalturaBlackoutScheduleEvent"]
	if bo == nil || bo["id"] != float64(f.e2) || bo["recurrenceType"] != float64(0) {
		t.Fatalf("blackout object: %v", types)
	}
	for _, k := range []string{"parentId", "description", "templateEntryId", "recurrence", "priority", "referenceId"} {
		if _, ok := bo[k]; ok {
			t.Errorf("null field %q present: %v", k, bo)
		}
	}
	occ := types["KalturaRecordScheduleEvent"]
	if occ["parentId"] != float64(f.s) || occ["summary"] != "Series" || occ["templateEntryId"] != "1_t2" || occ["sequence"] != float64(1) {
		t.Errorf("occurrence not filled from parent: %v", occ)
	}
	rec, _ := occ["recurrence"].(map[string]any)
	if rec["frequency"] != "days" || rec["objectType"] != "KalturaScheduleEventRecurrence" {
		t.Errorf("occurrence recurrence: %v", occ["recurrence"])
	}
}

func TestResources(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	loc := h.mustCall("schedule_scheduleresource.add", kapi.Params{
		"scheduleResource:objectType": "KalturaLocationScheduleResource", "scheduleResource:name": "Hall B",
		"scheduleResource:systemName": "hall-b"}).(schedule.Resource)
	cam := h.mustCall("schedule_scheduleresource.add", kapi.Params{
		"scheduleResource:objectType": "KalturaCameraScheduleResource", "scheduleResource:name": "Hall B Cam",
		"scheduleResource:systemName": "hall-b-cam", "scheduleResource:parentId": itoa(loc.ID), "scheduleResource:tags": "box,pi"}).(schedule.Resource)
	if cam.Type != schedule.ResourceCamera || cam.Status != schedule.ResourceActive || cam.ParentID != loc.ID || cam.PartnerID != pid {
		t.Errorf("camera: %+v", cam)
	}
	m := mustJSON(t, cam)
	if m["objectType"] != "KalturaCameraScheduleResource" || m["systemName"] != "hall-b-cam" {
		t.Errorf("camera JSON: %v", m)
	}
	if _, err := h.call("schedule_scheduleresource.add", kapi.Params{"scheduleResource:objectType": "KalturaCameraScheduleResource",
		"scheduleResource:name": "dup", "scheduleResource:systemName": "hall-b-cam"}); code(err) != "SYSTEM_NAME_ALREADY_EXISTS" {
		t.Errorf("duplicate system name: %v", err)
	}
	if _, err := h.call("schedule_scheduleresource.add", kapi.Params{"scheduleResource:objectType": "KalturaCameraScheduleResource"}); code(err) != "PROPERTY_VALIDATION_CANNOT_BE_NULL" {
		t.Errorf("no name: %v", err)
	}
	if _, err := h.call("schedule_scheduleresource.add", kapi.Params{"scheduleResource:name": "x"}); code(err) != "OBJECT_TYPE_ABSTRACT" {
		t.Errorf("no objectType: %v", err)
	}
	got := h.mustCall("schedule_scheduleresource.get", kapi.Params{"scheduleResourceId": itoa(cam.ID)}).(schedule.Resource)
	if got.Name != "Hall B Cam" {
		t.Errorf("get: %+v", got)
	}
	up := h.mustCall("schedule_scheduleresource.update", kapi.Params{"scheduleResourceId": itoa(cam.ID), "scheduleResource:name": "Hall B Lectern Cam"}).(schedule.Resource)
	if up.Name != "Hall B Lectern Cam" || up.SystemName != "hall-b-cam" {
		t.Errorf("update: %+v", up)
	}
	for _, tc := range []struct {
		p    kapi.Params
		want int
	}{
		{nil, 2},
		{kapi.Params{"filter:systemNameEqual": "hall-b-cam"}, 1},
		{kapi.Params{"filter:parentIdEqual": itoa(loc.ID)}, 1},
		{kapi.Params{"filter:idIn": itoa(loc.ID) + "," + itoa(cam.ID)}, 2},
		{kapi.Params{"filter:tagsLike": "pi"}, 1},
		{kapi.Params{"filter:statusEqual": "1"}, 0},
	} {
		r := h.mustCall("schedule_scheduleresource.list", tc.p).(*schedule.ResourceListResponse)
		if r.TotalCount != tc.want {
			t.Errorf("resource list %v: %d, want %d", tc.p, r.TotalCount, tc.want)
		}
	}
	// Book the camera on an event through scheduleEventResource; the
	// location name then fills LOCATION and the event is found by the
	// location's id through parentResourceIdsLike.
	ev := h.addEvent(schedule.Event{Summary: "E", StartDate: unix("2025-09-02T10:00:00Z"), EndDate: unix("2025-09-02T11:00:00Z")})
	h.mustCall("schedule_scheduleeventresource.add", kapi.Params{"scheduleEventResource:eventId": itoa(ev.ID), "scheduleEventResource:resourceId": itoa(cam.ID)})
	if got := ids(h.list(kapi.Params{"filter:parentResourceIdsLike": itoa(loc.ID)})); !slices.Equal(got, []int64{ev.ID}) {
		t.Errorf("booked event by location: %v", got)
	}
	if !strings.Contains(h.ical(nil), "\r\nLOCATION:Hall B Lectern Cam\r\n") {
		t.Error("LOCATION from resource name")
	}
	h.mustCall("schedule_scheduleresource.delete", kapi.Params{"scheduleResourceId": itoa(loc.ID)})
	if _, err := h.call("schedule_scheduleresource.get", kapi.Params{"scheduleResourceId": itoa(loc.ID)}); code(err) != "INVALID_OBJECT_ID" {
		t.Errorf("get deleted resource: %v", err)
	}
}
