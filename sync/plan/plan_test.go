package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/schedule"
)

var t0 = time.Date(2025, 10, 20, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

type evOpt func(*schedule.Event)

func ev(id int64, start, end time.Time, opts ...evOpt) schedule.Event {
	e := schedule.Event{ID: id, Type: schedule.TypeRecord, Status: schedule.StatusActive,
		Start: start, End: end, ResourceIDs: []int64{58}, Title: "e"}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func typ(t schedule.EventType) evOpt { return func(e *schedule.Event) { e.Type = t } }
func status(s schedule.Status) evOpt { return func(e *schedule.Event) { e.Status = s } }
func prio(p int) evOpt               { return func(e *schedule.Event) { e.Priority = p } }
func res(ids ...int64) evOpt         { return func(e *schedule.Event) { e.ResourceIDs = ids } }
func parent(id int64) evOpt          { return func(e *schedule.Event) { e.ParentID = id } }
func rule(r string, tz string) evOpt { return func(e *schedule.Event) { e.RRule, e.TZID = r, tz } }
func title(s string) evOpt           { return func(e *schedule.Event) { e.Title = s } }

func decisions(p Plan) string {
	var b []string
	for _, e := range p.Entries {
		s := e.Key + ":"
		if e.Record {
			s += "rec"
		} else {
			s += e.Why
		}
		b = append(b, s)
	}
	return strings.Join(b, " | ")
}

func TestBuildDecisions(t *testing.T) {
	tests := []struct {
		name   string
		events []schedule.Event
		want   string
	}{
		{"single", []schedule.Event{ev(1, at(9, 0), at(10, 0))}, "1:rec"},
		{"other resource filtered", []schedule.Event{ev(1, at(9, 0), at(10, 0), res(59)), ev(2, at(9, 0), at(10, 0), res(59, 58))}, "2:rec"},
		{"no resource is not ours", []schedule.Event{ev(1, at(9, 0), at(10, 0), res())}, ""},
		{"cancelled shown", []schedule.Event{ev(1, at(9, 0), at(10, 0), status(schedule.StatusCancelled))}, "1:cancelled"},
		{"deleted gone", []schedule.Event{ev(1, at(9, 0), at(10, 0), status(schedule.StatusDeleted))}, ""},
		{"live not recorded", []schedule.Event{ev(1, at(9, 0), at(10, 0), typ(schedule.TypeLive))}, "1:type 2 (live) is not recorded"},
		{"blackout suppresses whole overlapping recording",
			[]schedule.Event{ev(1, at(9, 0), at(10, 0)), ev(2, at(9, 45), at(12, 0), typ(schedule.TypeBlackout)), ev(3, at(12, 0), at(13, 0))},
			"1:suppressed by blackout 2 | 2:blackout | 3:rec"},
		{"cancelled blackout ignored",
			[]schedule.Event{ev(1, at(9, 0), at(10, 0)), ev(2, at(8, 0), at(12, 0), typ(schedule.TypeBlackout), status(schedule.StatusCancelled))},
			"2:cancelled | 1:rec"},
		{"blackout on another resource ignored",
			[]schedule.Event{ev(1, at(9, 0), at(10, 0)), ev(2, at(8, 0), at(12, 0), typ(schedule.TypeBlackout), res(59))},
			"1:rec"},
		{"occurrence inherits series resources",
			[]schedule.Event{
				ev(100, at(9, 0), at(10, 0), res(58), rule("FREQ=DAILY;COUNT=3", "")),
				ev(101, at(9, 0), at(10, 0), res(), parent(100)),
			},
			"101:rec"},
		{"expanded series",
			[]schedule.Event{ev(100, at(9, 0), at(10, 0), rule("FREQ=DAILY;COUNT=2", ""))},
			"100@20251020T090000Z:rec | 100@20251021T090000Z:rec"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Build(tc.events, 58, t0, t0.Add(7*24*time.Hour))
			if got := decisions(p); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBlackoutWithoutResourceIsAProblem(t *testing.T) {
	p := Build([]schedule.Event{ev(1, at(9, 0), at(10, 0)), ev(2, at(8, 0), at(12, 0), typ(schedule.TypeBlackout), res())}, 58, t0, t0.Add(24*time.Hour))
	if decisions(p) != "1:rec" || len(p.Problems) != 1 || p.Problems[0].EventID != 2 {
		t.Errorf("decisions %s problems %+v", decisions(p), p.Problems)
	}
}

func TestConflictsAllRecorded(t *testing.T) {
	events := []schedule.Event{
		ev(3, at(9, 0), at(10, 30)),
		ev(1, at(10, 0), at(11, 0), prio(1)),
		ev(2, at(10, 15), at(10, 45)),
		ev(4, at(11, 0), at(12, 0)), // touches 1 at 11:00: no overlap
	}
	p := Build(events, 58, t0, t0.Add(24*time.Hour))
	if got := decisions(p); got != "3:rec | 1:rec | 2:rec | 4:rec" {
		t.Fatalf("decisions %s", got)
	}
	var got []string
	for _, e := range p.Entries {
		got = append(got, fmt.Sprintf("%s:%d%v", e.Key, e.Overlap.Count, e.Overlap.Ahead))
	}
	want := "3:2[1] 1:2[] 2:2[1 3] 4:0[]"
	if strings.Join(got, " ") != want {
		t.Errorf("overlaps %v, want %s", got, want)
	}
	if p.Conflicted != 3 {
		t.Errorf("Conflicted = %d, want 3", p.Conflicted)
	}
}

func TestPrimaryOrder(t *testing.T) {
	tests := []struct {
		name   string
		events []schedule.Event
		now    time.Time
		want   string
	}{
		{"priority 1 beats earlier start", []schedule.Event{ev(1, at(9, 0), at(11, 0)), ev(2, at(10, 0), at(11, 0), prio(1))}, at(10, 30), "2"},
		{"priority 5 beats undefined 0", []schedule.Event{ev(1, at(9, 0), at(11, 0), prio(0)), ev(2, at(10, 0), at(11, 0), prio(5))}, at(10, 30), "2"},
		{"priority 1 beats 9", []schedule.Event{ev(1, at(9, 0), at(11, 0), prio(9)), ev(2, at(10, 0), at(11, 0), prio(1))}, at(10, 30), "2"},
		{"then earliest start", []schedule.Event{ev(1, at(10, 0), at(11, 0)), ev(2, at(9, 0), at(11, 0))}, at(10, 30), "2"},
		{"then lowest id", []schedule.Event{ev(7, at(10, 0), at(11, 0)), ev(3, at(10, 0), at(11, 0))}, at(10, 30), "3"},
		{"nothing running", []schedule.Event{ev(1, at(10, 0), at(11, 0))}, at(11, 0), ""},
		{"cancelled never primary", []schedule.Event{ev(1, at(10, 0), at(11, 0), status(schedule.StatusCancelled))}, at(10, 30), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Build(tc.events, 58, t0, t0.Add(24*time.Hour))
			o, ok := p.Primary(tc.now)
			got := ""
			if ok {
				got = o.Key
			}
			if got != tc.want {
				t.Errorf("Primary = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestActiveAndNext(t *testing.T) {
	p := Build([]schedule.Event{
		ev(1, at(9, 0), at(10, 0)),
		ev(2, at(10, 0), at(11, 0)),
		ev(3, at(13, 0), at(14, 0), status(schedule.StatusCancelled)),
		ev(4, at(15, 0), at(16, 0), prio(2)),
		ev(5, at(15, 0), at(15, 30), prio(1)),
	}, 58, t0, t0.Add(24*time.Hour))
	keysOf := func(os []schedule.Occurrence) string {
		var k []string
		for _, o := range os {
			k = append(k, o.Key)
		}
		return strings.Join(k, ",")
	}
	tests := []struct {
		now       time.Time
		pre, post time.Duration
		active    string
		next      string
	}{
		{at(8, 0), 0, 0, "", "1"},
		{at(8, 58), 2 * time.Minute, 0, "1", "1"},
		{at(9, 0), 0, 0, "1", "2"},
		{at(10, 0), 0, 0, "2", "5"},
		{at(10, 0), 0, time.Minute, "1,2", "5"},
		{at(11, 30), 0, 0, "", "5"},
		{at(15, 10), 0, 0, "5,4", ""},
		{at(16, 0), 0, 0, "", ""},
	}
	for _, tc := range tests {
		if got := keysOf(p.Active(tc.now, tc.pre, tc.post)); got != tc.active {
			t.Errorf("Active(%s, %s, %s) = %q, want %q", tc.now.Format("15:04"), tc.pre, tc.post, got, tc.active)
		}
		n, ok := p.Next(tc.now)
		got := ""
		if ok {
			got = n.Key
		}
		if got != tc.next {
			t.Errorf("Next(%s) = %q, want %q", tc.now.Format("15:04"), got, tc.next)
		}
	}
}

func TestDiff(t *testing.T) {
	old := Build([]schedule.Event{ev(1, at(9, 0), at(10, 0)), ev(2, at(11, 0), at(12, 0)), ev(3, at(13, 0), at(14, 0))}, 58, t0, t0.Add(24*time.Hour))
	new := Build([]schedule.Event{
		ev(1, at(9, 0), at(10, 0)),
		ev(2, at(11, 0), at(12, 30), title("renamed")),
		ev(4, at(15, 0), at(16, 0)),
	}, 58, t0, t0.Add(24*time.Hour))
	c := Diff(old, new)
	if len(c.Added) != 1 || c.Added[0].Key != "4" || len(c.Removed) != 1 || c.Removed[0].Key != "3" ||
		len(c.Changed) != 1 || strings.Join(c.Changed[0].Fields, ",") != "end,title" {
		t.Errorf("Diff = %s", c)
	}
	if !Diff(new, new).Empty() {
		t.Error("Diff of a plan with itself is not empty")
	}
	if s := c.String(); !strings.Contains(s, "added 1: [4]") || !strings.Contains(s, "removed 1: [3]") {
		t.Errorf("String() = %q", s)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	events := []schedule.Event{
		ev(5, at(9, 0), at(10, 0)), ev(4, at(9, 0), at(10, 0)), ev(3, at(9, 0), at(10, 0), prio(3)),
		ev(100, at(9, 0), at(10, 0), rule("FREQ=DAILY;COUNT=3", "")),
	}
	first := decisions(Build(events, 58, t0, t0.Add(72*time.Hour)))
	for i := 0; i < 20; i++ {
		// Reverse the input: order in the calendar must not matter.
		rev := make([]schedule.Event, len(events))
		for j := range events {
			rev[len(events)-1-j] = events[j]
		}
		events = rev
		if got := decisions(Build(events, 58, t0, t0.Add(72*time.Hour))); got != first {
			t.Fatalf("plan depends on input order:\n%s\n%s", first, got)
		}
	}
	if !strings.HasPrefix(first, "3:rec | 4:rec | 5:rec | 100@20251020T090000Z:rec") {
		t.Errorf("order %s", first)
	}
}

func BenchmarkBuild500(b *testing.B) {
	var events []schedule.Event
	for i := 0; i < 500; i++ {
		s := t0.Add(time.Duration(i) * 40 * time.Minute)
		events = append(events, ev(int64(i+1), s, s.Add(75*time.Minute)))
	}
	for b.Loop() {
		Build(events, 58, t0, t0.Add(14*24*time.Hour))
	}
}

// TestNextStart: the soonest start with pre padding strictly after now,
// cancelled events skipped.
func TestNextStart(t *testing.T) {
	p := Build([]schedule.Event{
		ev(1, at(9, 0), at(10, 0)),
		ev(3, at(13, 0), at(14, 0), status(schedule.StatusCancelled)),
		ev(4, at(15, 0), at(16, 0)),
	}, 58, t0, t0.Add(24*time.Hour))
	tests := []struct {
		now  time.Time
		pre  time.Duration
		want time.Time // zero: none
	}{
		{at(8, 0), 0, at(9, 0)},
		{at(8, 0), 5 * time.Minute, at(8, 55)},
		{at(8, 55), 5 * time.Minute, at(15, 0).Add(-5 * time.Minute)},
		{at(9, 0), 0, at(15, 0)},
		{at(15, 0), 0, time.Time{}},
	}
	for _, tc := range tests {
		got, ok := p.NextStart(tc.now, tc.pre)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("NextStart(%s, %v) = %v, %v; want %v", tc.now.Format("15:04"), tc.pre, got.Format("15:04"), ok, tc.want.Format("15:04"))
		}
	}
}
