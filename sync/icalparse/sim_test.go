package icalparse_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/icalparse"
	"github.com/capturebox/capturebox/sync/schedule"
	"github.com/capturebox/capturebox/tools/kalturasim/kapi"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// The simulator's iCal, in each dialect Kaltura has served, goes through
// the box's own parser as it is, and every field comes back equal to the
// store's rows.

const simPartner = 4242

var simNow = time.Date(2025, 10, 15, 12, 0, 0, 0, time.UTC)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// simSeries is what a series of the fixture must parse to.
type simSeries struct {
	rrule, name string      // RRULE without NAME, and the NAME part
	starts      []time.Time // the occurrences' starts, computed here
}

// simFixture fills a store with a rich schedule and returns the expected
// RRULEs and starts of its series, by series id.
func simFixture(t *testing.T) (*simsched.Store, map[int64]simSeries) {
	st := simsched.New(func() time.Time { return simNow })
	cam, err := st.AddResource(simPartner, simsched.Resource{Name: "Room 204 Camera", Type: simsched.ResourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	cam2, err := st.AddResource(simPartner, simsched.Resource{Name: "Hall B, Cam 2", Type: simsched.ResourceCamera})
	if err != nil {
		t.Fatal(err)
	}
	st.SetCategory(simPartner, 301, "12>300>301")
	st.SetCategory(simPartner, 305, "12>300>305")
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Unix()
	}
	add := func(e simsched.Event) simsched.Event {
		t.Helper()
		got, err := st.AddEvent(simPartner, e)
		if err != nil {
			t.Fatalf("add %q: %v", e.Summary, err)
		}
		return got
	}

	// Single events of every type; raw newlines, commas, semicolons and
	// backslashes in SUMMARY and DESCRIPTION (Kaltura escapes none).
	add(simsched.Event{Type: simsched.TypeRecord,
		Summary:     `CHEM 101, Lecture; part \ one – Café ✓`,
		Description: "Bring: goggles, gloves;\nNote: bring calculators\n\nC:\\temp\\ and a literal \\n; a,b,c\\",
		ResourceIDs: []int64{cam.ID, cam2.ID}, TemplateEntryID: "1_ab12cd34", EntryIDs: "1_aaaaaaaa,1_bbbbbbbb",
		CategoryIDs: "301,305", Tags: "chem,lab,fall 2025", OwnerID: "jdoe@example.edu", Priority: 7,
		ReferenceID: "ext-42", StartDate: at("2025-10-20T13:00:00Z"), EndDate: at("2025-10-20T14:15:00Z")})
	add(simsched.Event{Type: simsched.TypeLiveStream, Summary: "Live: keynote", Description: "streamed\nto 2 rooms",
		ResourceIDs: []int64{cam2.ID}, TemplateEntryID: "0_live0001", Tags: "live", Priority: 1,
		StartDate: at("2025-10-20T15:00:00Z"), EndDate: at("2025-10-20T16:00:00Z")})
	add(simsched.Event{Type: simsched.TypeBlackout, Summary: "Holiday; campus closed", Description: "no recordings, at all",
		StartDate: at("2025-10-27T00:00:00Z"), EndDate: at("2025-10-28T00:00:00Z")})
	add(simsched.Event{Type: simsched.TypeMeeting, Summary: "Faculty meeting", Location: "Hall B, 2nd floor",
		ResourceIDs: []int64{cam.ID}, Priority: 9, StartDate: at("2025-10-21T17:00:00Z"), EndDate: at("2025-10-21T18:00:00Z")})
	add(simsched.Event{Type: simsched.TypeLiveRedirect, Summary: "Redirect", TemplateEntryID: "1_redirect",
		ResourceIDs: []int64{cam.ID}, StartDate: at("2025-10-22T08:00:00Z"), EndDate: at("2025-10-22T09:00:00Z")})
	add(simsched.Event{Type: simsched.TypeVOD, Summary: "VOD replay", Tags: "vod",
		StartDate: at("2025-10-23T08:00:00Z"), EndDate: at("2025-10-23T08:30:00Z")})
	cancelled := add(simsched.Event{Type: simsched.TypeRecord, Summary: "Cancelled lecture", TemplateEntryID: "1_cancel01",
		ResourceIDs: []int64{cam.ID}, StartDate: at("2025-10-24T13:00:00Z"), EndDate: at("2025-10-24T14:00:00Z")})
	if _, err := st.CancelEvent(simPartner, cancelled.ID); err != nil {
		t.Fatal(err)
	}

	series := map[int64]simSeries{}
	// Weekly in New York across the end of DST (2 November 2025): 09:00
	// local is 13:00Z before and 14:00Z after. A NAME with ; , and =.
	ny := mustZone(t, "America/New_York")
	until := time.Date(2025, 11, 11, 23, 59, 0, 0, ny).Unix()
	s1 := add(simsched.Event{Type: simsched.TypeRecord, Summary: "PHYS 2, Waves; lab",
		Description: "Weekly\nroom 204, bring a laptop", ResourceIDs: []int64{cam.ID}, TemplateEntryID: "1_phys0002",
		CategoryIDs: "301", Tags: "phys", OwnerID: "prof", Priority: 3, ReferenceID: "phys-2",
		StartDate: time.Date(2025, 10, 21, 9, 0, 0, 0, ny).Unix(), Duration: 3600,
		RecurrenceType: simsched.RecurrenceRecurring,
		Recurrence: &simsched.Recurrence{Frequency: "weeks", ByDay: "TU", Until: until,
			TimeZone: "America/New_York", Name: "Fall; term=1, sec A"}})
	var nyStarts []time.Time
	for k := 0; k < 4; k++ {
		nyStarts = append(nyStarts, time.Date(2025, 10, 21+7*k, 9, 0, 0, 0, ny))
	}
	series[s1.ID] = simSeries{
		rrule:  "FREQ=WEEKLY;UNTIL=" + time.Unix(until, 0).UTC().Format("20060102T150405Z") + ";BYDAY=TU",
		name:   "Fall; term=1, sec A",
		starts: nyStarts,
	}
	// One occurrence cancelled.
	occ := st.Occurrences(simPartner, s1.ID)
	if len(occ) != 4 {
		t.Fatalf("series has %d occurrences, want 4", len(occ))
	}
	if _, err := st.CancelEvent(simPartner, occ[2].ID); err != nil {
		t.Fatal(err)
	}
	// Daily in London across the end of BST (26 October 2025).
	london := mustZone(t, "Europe/London")
	s2 := add(simsched.Event{Type: simsched.TypeLiveStream, Summary: "Daily stand-up", ResourceIDs: []int64{cam2.ID},
		StartDate: time.Date(2025, 10, 25, 10, 0, 0, 0, london).Unix(), Duration: 900,
		RecurrenceType: simsched.RecurrenceRecurring,
		Recurrence:     &simsched.Recurrence{Frequency: "days", Count: 3, TimeZone: "Europe/London"}})
	series[s2.ID] = simSeries{rrule: "FREQ=DAILY;COUNT=3", starts: []time.Time{
		time.Date(2025, 10, 25, 10, 0, 0, 0, london), time.Date(2025, 10, 26, 10, 0, 0, 0, london),
		time.Date(2025, 10, 27, 10, 0, 0, 0, london)}}
	// Every other day in UTC (no TZID).
	s3 := add(simsched.Event{Type: simsched.TypeMeeting, Summary: "Office hours", Location: "Room 9",
		StartDate: at("2025-10-29T10:00:00Z"), Duration: 1800, RecurrenceType: simsched.RecurrenceRecurring,
		Recurrence: &simsched.Recurrence{Frequency: "days", Interval: 2, Count: 2}})
	series[s3.ID] = simSeries{rrule: "FREQ=DAILY;COUNT=2;INTERVAL=2", starts: []time.Time{
		time.Date(2025, 10, 29, 10, 0, 0, 0, time.UTC), time.Date(2025, 10, 31, 10, 0, 0, 0, time.UTC)}}
	return st, series
}

// simWant is the event the box must read for a row the simulator wrote
// in one dialect. It is derived from the row, not from the calendar text.
func simWant(v simsched.EventView, legacy bool) schedule.Event {
	w := schedule.Event{
		ID: v.ID, ParentID: v.ParentID, PartnerID: v.PartnerID,
		Type: schedule.EventType(v.Type), Status: schedule.Status(v.Status),
		Title: v.Summary, Description: v.Description, Location: v.Location,
		Priority: v.Priority, Sequence: v.Sequence,
		Start: time.Unix(v.StartDate, 0).UTC(), End: time.Unix(v.EndDate, 0).UTC(),
		OwnerID: v.OwnerID, ResourceIDs: v.ResourceIDs, Tags: v.Tags,
		Updated: time.Unix(v.UpdatedAt, 0).UTC(),
	}
	if len(w.ResourceIDs) == 0 {
		w.ResourceIDs = nil
	}
	switch {
	case v.ReferenceID != "":
		w.UID = v.ReferenceID
	case !legacy:
		w.UID = simsched.GeneratedUID(v.ID) // the new format's generated UID
	}
	if !legacy {
		// The new format names the zone of a series (and of its
		// occurrences) and writes local times; the legacy one writes UTC.
		if r := v.Recurrence; r != nil && r.TimeZone != "" && r.TimeZone != "UTC" {
			w.TZID = r.TimeZone
		}
		// The new format writes the resources' names when there is no
		// location.
		if w.Location == "" {
			w.Location = strings.Join(v.ResourceNames, ",")
		}
	}
	// Entry properties are written for entry events only.
	if v.Type == simsched.TypeRecord || v.Type == simsched.TypeLiveStream {
		w.TemplateEntryID = v.TemplateEntryID
		if v.EntryIDs != "" {
			w.EntryIDs = strings.Split(v.EntryIDs, ",")
		}
		if v.CategoryIDs != "" {
			for _, f := range strings.Split(v.CategoryIDs, ",") {
				n, _ := strconv.ParseInt(f, 10, 64)
				w.CategoryIDs = append(w.CategoryIDs, n)
			}
		}
	}
	return w
}

// eventDiff lists the fields where got differs from want.
func eventDiff(got, want schedule.Event) []string {
	var d []string
	f := func(name string, eq bool, g, w any) {
		if !eq {
			d = append(d, fmt.Sprintf("%s: got %q, want %q", name, fmt.Sprint(g), fmt.Sprint(w)))
		}
	}
	f("ID", got.ID == want.ID, got.ID, want.ID)
	f("ParentID", got.ParentID == want.ParentID, got.ParentID, want.ParentID)
	f("PartnerID", got.PartnerID == want.PartnerID, got.PartnerID, want.PartnerID)
	f("UID", got.UID == want.UID, got.UID, want.UID)
	f("Type", got.Type == want.Type, got.Type, want.Type)
	f("Status", got.Status == want.Status, got.Status, want.Status)
	f("Title", got.Title == want.Title, got.Title, want.Title)
	f("Description", got.Description == want.Description, got.Description, want.Description)
	f("Location", got.Location == want.Location, got.Location, want.Location)
	f("Priority", got.Priority == want.Priority, got.Priority, want.Priority)
	f("Sequence", got.Sequence == want.Sequence, got.Sequence, want.Sequence)
	f("Start", got.Start.Equal(want.Start), got.Start, want.Start)
	f("End", got.End.Equal(want.End), got.End, want.End)
	f("TZID", got.TZID == want.TZID, got.TZID, want.TZID)
	f("OwnerID", got.OwnerID == want.OwnerID, got.OwnerID, want.OwnerID)
	f("ResourceIDs", slices.Equal(got.ResourceIDs, want.ResourceIDs), got.ResourceIDs, want.ResourceIDs)
	f("Tags", got.Tags == want.Tags, got.Tags, want.Tags)
	f("TemplateEntryID", got.TemplateEntryID == want.TemplateEntryID, got.TemplateEntryID, want.TemplateEntryID)
	f("EntryIDs", slices.Equal(got.EntryIDs, want.EntryIDs), got.EntryIDs, want.EntryIDs)
	f("CategoryIDs", slices.Equal(got.CategoryIDs, want.CategoryIDs), got.CategoryIDs, want.CategoryIDs)
	f("RRule", got.RRule == want.RRule, got.RRule, want.RRule)
	f("RRuleName", got.RRuleName == want.RRuleName, got.RRuleName, want.RRuleName)
	f("Updated", got.Updated.Equal(want.Updated), got.Updated, want.Updated)
	return d
}

func TestSimulatorICalRoundTrip(t *testing.T) {
	st, series := simFixture(t)
	dialects := []struct {
		name   string
		opts   simsched.PartnerOptions
		caller bool // legacy switched on by the caller rather than the partner
		legacy bool
		marker string // what the calendar text must show of its dialect
	}{
		{name: "current", marker: "BEGIN:VTIMEZONE"},
		{name: "current-no-vtimezone", opts: simsched.PartnerOptions{NoVTimezone: true}, marker: "DTSTART;TZID="},
		{name: "prodid-version", opts: simsched.PartnerOptions{ProdID: "20.14.0"}, marker: "PRODID:-//Kaltura Inc//Kaltura Server 20.14.0//EN"},
		{name: "legacy-caller", caller: true, legacy: true, marker: "STATUS:2"},
		{name: "legacy-partner", opts: simsched.PartnerOptions{LegacyICal: true}, legacy: true, marker: "DURATION:PT"},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			st.SetPartnerOptions(simPartner, d.opts)
			c := kapi.Caller{PartnerID: simPartner, SessionType: 2, LegacyICal: d.caller, Now: simNow}
			for _, pageSize := range []int{500, 4} {
				var got []schedule.Event
				var want []simsched.EventView
				seen := map[string]bool{}
				for page := 1; ; page++ {
					resp, err := st.List(c, kapi.Params{
						"filter:orderBy": "+startDate", "pager:pageSize": strconv.Itoa(pageSize), "pager:pageIndex": strconv.Itoa(page)})
					if err != nil {
						t.Fatal(err)
					}
					if len(resp.Objects) == 0 {
						break
					}
					raw := resp.ICal()
					seen[d.marker] = seen[d.marker] || bytes.Contains(raw, []byte(d.marker))
					cal, err := icalparse.Parse(bytes.NewReader(raw), icalparse.Options{})
					if err != nil {
						t.Fatalf("page %d: %v\n%s", page, err, raw)
					}
					if len(cal.Rejected) != 0 {
						t.Fatalf("page %d: rejected %+v\n%s", page, cal.Rejected, raw)
					}
					if cal.TotalCount != resp.TotalCount {
						t.Errorf("page %d: TotalCount %d, want %d", page, cal.TotalCount, resp.TotalCount)
					}
					got = append(got, cal.Events...)
					want = append(want, resp.Objects...)
				}
				if !seen[d.marker] {
					t.Errorf("page size %d: no %q in the calendar: not the dialect under test", pageSize, d.marker)
				}
				if len(got) != len(want) || len(want) != 7+3+4+3+2 {
					t.Fatalf("page size %d: parsed %d events, store listed %d", pageSize, len(got), len(want))
				}
				occurrences := map[int64][]time.Time{}
				for i, v := range want {
					w := simWant(v, d.legacy)
					seriesID := v.ID
					if v.ParentID != 0 {
						seriesID = v.ParentID
					}
					if s, ok := series[seriesID]; ok {
						w.RRule, w.RRuleName = s.rrule, s.name
					}
					if diff := eventDiff(got[i], w); len(diff) > 0 {
						t.Errorf("page size %d: event %d (%q):\n  %s", pageSize, v.ID, v.Summary, strings.Join(diff, "\n  "))
					}
					if v.ParentID != 0 {
						occurrences[v.ParentID] = append(occurrences[v.ParentID], got[i].Start)
					}
				}
				// The occurrences fall on the local times computed here,
				// on both sides of the DST changes.
				for id, s := range series {
					if len(occurrences[id]) != len(s.starts) {
						t.Errorf("series %d: %d occurrences, want %d", id, len(occurrences[id]), len(s.starts))
						continue
					}
					for k, start := range s.starts {
						if !occurrences[id][k].Equal(start) {
							t.Errorf("series %d occurrence %d: start %s, want %s", id, k, occurrences[id][k], start.UTC())
						}
					}
				}
			}
		})
	}
}

// A list the server refuses comes as a VERROR calendar: Parse returns a
// *KalturaError, never an empty schedule.
func TestSimulatorVErrorIsTypedError(t *testing.T) {
	st, _ := simFixture(t)
	c := kapi.Caller{PartnerID: simPartner, SessionType: 2, Now: simNow}
	_, lerr := st.List(c, kapi.Params{"pager:pageSize": "500", "pager:pageIndex": "21"})
	var exc *kapi.Exception
	if !errors.As(lerr, &exc) {
		t.Fatalf("List past the offset limit: %v, want a *kapi.Exception", lerr)
	}
	const rawKS = "djJ8NDI0MnxzZWNyZXQtc2Vzc2lvbg=="
	for _, tc := range []struct {
		name     string
		exc      *kapi.Exception
		code     string
		reason   string
		expired  bool
		mustHide string
	}{
		{name: "max matches", exc: exc, code: "QUERY_EXCEEDED_MAX_MATCHES_ALLOWED"},
		{name: "expired KS", exc: kapi.Errorf("INVALID_KS", `Invalid KS "EXPIRED", Error "-1,INVALID_STR"`,
			"KSID", "EXPIRED", "ERR_CODE", "-1", "ERR_DESC", "INVALID_STR"), code: "INVALID_KS", reason: "EXPIRED", expired: true},
		{name: "unparsable KS", exc: kapi.Errorf("INVALID_KS", `Invalid KS "`+rawKS+`", Error "-1,INVALID_STR"`,
			"KSID", rawKS, "ERR_CODE", "-1", "ERR_DESC", "INVALID_STR"), code: "INVALID_KS", mustHide: rawKS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := simsched.ICalError(tc.exc)
			cal, err := icalparse.Parse(bytes.NewReader(raw), icalparse.Options{})
			if cal != nil {
				t.Fatalf("a VERROR parsed as a calendar of %d events", len(cal.Events))
			}
			var kerr *icalparse.KalturaError
			if !errors.As(err, &kerr) {
				t.Fatalf("err = %v, want a *icalparse.KalturaError", err)
			}
			if kerr.Code != tc.code || kerr.Message != tc.exc.Message || kerr.KSReason() != tc.reason {
				t.Errorf("got code %q message %q reason %q", kerr.Code, kerr.Message, kerr.KSReason())
			}
			var args []string
			for _, a := range tc.exc.Args {
				args = append(args, a.Value)
			}
			if !slices.Equal(kerr.Args, args) {
				t.Errorf("args %q, want %q", kerr.Args, args)
			}
			if errors.Is(err, icalparse.ErrSessionExpired) != tc.expired {
				t.Errorf("errors.Is(err, ErrSessionExpired) = %v", !tc.expired)
			}
			if tc.mustHide != "" && strings.Contains(err.Error(), tc.mustHide) {
				t.Errorf("error string shows the KS: %s", err)
			}
		})
	}
}

// BenchmarkParseSimPage parses one full page (500 events) of the
// simulator's generator, as BenchmarkSync10k lists them, with ParseBytes.
func BenchmarkParseSimPage(b *testing.B) {
	st := simsched.New(func() time.Time { return simNow })
	st.GenerateEvents(simPartner, 58, 500, simNow.Add(time.Hour), simsched.GenerateOptions{Every: 2 * time.Minute, Length: 100 * time.Second})
	resp, err := st.List(kapi.Caller{PartnerID: simPartner, SessionType: 2, Now: simNow}, kapi.Params{"pager:pageSize": "500"})
	if err != nil {
		b.Fatal(err)
	}
	page := resp.ICal()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		cal, err := icalparse.ParseBytes(page, icalparse.Options{})
		if err != nil || len(cal.Events) != 500 {
			b.Fatalf("%v %d", err, len(cal.Events))
		}
	}
}
