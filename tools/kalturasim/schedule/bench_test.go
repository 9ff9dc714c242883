package schedule_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	"github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

func TestGenerateEventsTwentyPages(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	cam := h.addResource("Cam", schedule.ResourceCamera, 0)
	other := h.addResource("Other", schedule.ResourceCamera, 0)
	start := h.clock.Now().Add(time.Hour)
	gen := h.store.GenerateEvents(pid, cam, 10000, start, schedule.GenerateOptions{Every: 30 * time.Minute, Length: 20 * time.Minute, TemplateEntryID: "1_tmpl"})
	h.store.GenerateEvents(pid, other, 50, start, schedule.GenerateOptions{})
	if len(gen) != 10000 {
		t.Fatalf("generated %d", len(gen))
	}
	seen := map[int64]bool{}
	for page := 1; page <= 20; page++ {
		got := h.ical(kapi.Params{
			"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:resourceIdsLike": itoa(cam),
			"filter:orderBy": "+startDate", "pager:pageSize": "500", "pager:pageIndex": itoa(int64(page)),
		})
		evs := vevents(got)
		if len(evs) != 500 || !strings.Contains(got, "\r\nX-KALTURA-TOTAL-COUNT:10000\r\n") {
			t.Fatalf("page %d: %d events", page, len(evs))
		}
		for _, ev := range evs {
			i := strings.Index(ev, "X-KALTURA-ID:") + len("X-KALTURA-ID:")
			var id int64
			fmt.Sscan(ev[i:i+7], &id)
			if seen[id] {
				t.Fatalf("id %d on two pages", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 10000 {
		t.Errorf("distinct ids %d", len(seen))
	}
	if _, err := h.call("schedule_scheduleevent.list", kapi.Params{"pager:pageSize": "500", "pager:pageIndex": "21"}); code(err) != "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED" {
		t.Errorf("page 21: %v", err)
	}
}

// BenchmarkListPage500of10000 is the sync benchmark's request: one page of
// 500 record events out of 10,000 on the resource, as iCal.
func BenchmarkListPage500of10000(b *testing.B) {
	clock := &fakeClock{t: mustTime("2025-09-01T08:00:00Z")}
	st := schedule.New(clock.Now)
	acts := map[string]kapi.Action{}
	st.Register(func(s, a string, f kapi.Action) { acts[s+"."+a] = f })
	cam, _ := st.AddResource(pid, schedule.Resource{Name: "Cam"})
	st.GenerateEvents(pid, cam.ID, 10000, clock.Now(), schedule.GenerateOptions{TemplateEntryID: "1_tmpl"})
	c := kapi.Caller{PartnerID: pid, Now: clock.Now()}
	list := acts["schedule_scheduleevent.list"]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := list(c, kapi.Params{
			"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:resourceIdsLike": itoa(cam.ID),
			"filter:recurrenceTypeIn": "0,2", "filter:statusIn": "1,2",
			"filter:endDateGreaterThanOrEqual": itoa(clock.Now().Unix()),
			"filter:orderBy":                   "+startDate", "pager:pageSize": "500", "pager:pageIndex": itoa(int64(i%20 + 1)),
		})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(v.(kapi.ICal).ICal()); n < 500*300 {
			b.Fatalf("short calendar: %d bytes", n)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	cam := h.addResource("Cam", schedule.ResourceCamera, 0)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s, err := h.store.AddEvent(pid, schedule.Event{Summary: "s", ResourceIDs: []int64{cam},
					StartDate: unix("2025-09-02T10:00:00Z") + int64(w*100+i)*7200, Duration: 600,
					RecurrenceType: schedule.RecurrenceRecurring, Recurrence: &schedule.Recurrence{Frequency: "days", Count: 5}})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := h.store.UpdateEvent(pid, s.ID, func(e *schedule.Event) { e.Recurrence.Count = 3 }); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			c := kapi.Caller{PartnerID: pid, Now: h.clock.Now()}
			for i := 0; i < 20; i++ {
				v, err := h.actions["schedule_scheduleevent.list"](c, kapi.Params{"filter:resourceIdsLike": itoa(cam), "pager:pageSize": "500"})
				if err != nil {
					t.Error(err)
					return
				}
				_ = v.(kapi.ICal).ICal()
			}
		}()
	}
	wg.Wait()
	r := h.list(kapi.Params{"filter:resourceIdsLike": itoa(cam), "pager:pageSize": "500"})
	if r.TotalCount != 4*20*4 { // 80 series with 3 occurrences each
		t.Errorf("total %d, want 320", r.TotalCount)
	}
}

func TestSeedDemo(t *testing.T) {
	h := newHarness(t, "2025-09-01T08:00:00Z")
	d, err := h.store.SeedDemo(pid, "1_demo", schedule.DemoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.EventIDs) != 3 {
		t.Fatalf("demo events %v", d.EventIDs)
	}
	r := h.list(kapi.Params{"filter:objectType": "KalturaRecordScheduleEventFilter", "filter:resourceIdsLike": itoa(d.ResourceID), "filter:orderBy": "+startDate"})
	now := h.clock.Now().Unix()
	for i, o := range r.Objects {
		wantStart := now + 60 + int64(i)*240
		if o.StartDate != wantStart || o.EndDate != wantStart+180 || o.TemplateEntryID != "1_demo" {
			t.Errorf("lecture %d: %d..%d %q", i, o.StartDate-now, o.EndDate-now, o.TemplateEntryID)
		}
	}
	res := h.store.Resources(pid)
	if len(res) != 1 || res[0].Type != schedule.ResourceCamera || res[0].Name != "Room 101 Camera" {
		t.Errorf("demo resource %+v", res)
	}
}

// BenchmarkListAfterChange is the same request right after a change to the
// partner's schedule (the sorted view and the resource index are rebuilt).
func BenchmarkListAfterChange(b *testing.B) {
	clock := &fakeClock{t: mustTime("2025-09-01T08:00:00Z")}
	st := schedule.New(clock.Now)
	cam, _ := st.AddResource(pid, schedule.Resource{Name: "Cam"})
	st.GenerateEvents(pid, cam.ID, 10000, clock.Now(), schedule.GenerateOptions{})
	c := kapi.Caller{PartnerID: pid, Now: clock.Now()}
	p := kapi.Params{"filter:resourceIdsLike": itoa(cam.ID), "filter:orderBy": "+startDate", "pager:pageSize": "500"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.GenerateEvents(pid, cam.ID, 1, clock.Now(), schedule.GenerateOptions{})
		if _, err := st.List(c, p); err != nil {
			b.Fatal(err)
		}
	}
}
