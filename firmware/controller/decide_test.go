package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/plan"
	"github.com/capturebox/capturebox/sync/recur"
	"github.com/capturebox/capturebox/sync/schedule"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func occ(id int64, start, end string, mods ...func(*schedule.Occurrence)) schedule.Occurrence {
	at := func(s string) time.Time {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic(err)
		}
		return t0.Add(d)
	}
	o := schedule.Occurrence{
		Key: fmt.Sprint(id), EventID: id, Type: schedule.TypeRecord, Status: schedule.StatusActive,
		Title: fmt.Sprintf("Lecture %d", id), Start: at(start), End: at(end), TemplateEntryID: "1_template",
	}
	for _, m := range mods {
		m(&o)
	}
	return o
}

// planOf plans occurrences as the sync would: each becomes the concrete
// event it stands for, every resource kept.
func planOf(occs ...schedule.Occurrence) plan.Plan {
	events := make([]schedule.Event, len(occs))
	for i, o := range occs {
		events[i] = schedule.Event{
			ID: o.EventID, ParentID: o.ParentID, Type: o.Type, Status: o.Status, Title: o.Title,
			Priority: o.Priority, Start: o.Start, End: o.End, ResourceIDs: o.ResourceIDs,
			TemplateEntryID: o.TemplateEntryID, Tags: o.Tags, CategoryIDs: o.CategoryIDs,
		}
	}
	return plan.BuildWith(events, 0, t0.Add(-30*24*time.Hour), t0.Add(30*24*time.Hour),
		plan.Options{Expand: recur.Options{NoExpansion: true}})
}

func acts(a []Action) string {
	var parts []string
	for _, x := range a {
		parts = append(parts, x.Kind.String()+":"+x.Rec.Occ.Key+"#"+fmt.Sprint(x.Rec.Part))
	}
	return strings.Join(parts, " ")
}

func TestReconcile(t *testing.T) {
	p := Policy{}
	lec := occ(1, "0s", "1h")
	tests := []struct {
		name    string
		running []schedule.Occurrence
		stopped []string
		occs    []schedule.Occurrence
		at      time.Duration
		trusted bool
		want    string
	}{
		{"before start", nil, nil, []schedule.Occurrence{lec}, -time.Second, true, ""},
		{"at start", nil, nil, []schedule.Occurrence{lec}, 0, true, "start:1#1"},
		{"mid event after boot", nil, nil, []schedule.Occurrence{lec}, 30 * time.Minute, true, "start:1#1"},
		{"at end", []schedule.Occurrence{lec}, nil, []schedule.Occurrence{lec}, time.Hour, true, "stop:1#1"},
		{"end moved later", []schedule.Occurrence{lec}, nil, []schedule.Occurrence{occ(1, "0s", "90m")}, time.Hour, true, ""},
		{"cancelled while recording", []schedule.Occurrence{lec}, nil,
			[]schedule.Occurrence{occ(1, "0s", "1h", func(o *schedule.Occurrence) { o.Status = schedule.StatusCancelled })}, 10 * time.Minute, true, "hold:1#1"},
		{"removed while recording", []schedule.Occurrence{lec}, nil, nil, 10 * time.Minute, true, "hold:1#1"},
		{"cancelled never starts", nil, nil,
			[]schedule.Occurrence{occ(1, "0s", "1h", func(o *schedule.Occurrence) { o.Status = schedule.StatusCancelled })}, 0, true, ""},
		{"live event not recorded", nil, nil,
			[]schedule.Occurrence{occ(1, "0s", "1h", func(o *schedule.Occurrence) { o.Type = schedule.TypeLive })}, 0, true, ""},
		{"stopped early stays stopped", nil, []string{"1"}, []schedule.Occurrence{lec}, 10 * time.Minute, true, ""},
		{"untrusted clock starts nothing", nil, nil, []schedule.Occurrence{lec}, 0, false, ""},
		{"untrusted clock stops nothing", []schedule.Occurrence{lec}, nil, []schedule.Occurrence{lec}, 2 * time.Hour, false, ""},
		{"overlap records both", nil, nil, []schedule.Occurrence{lec, occ(2, "30m", "2h")}, 45 * time.Minute, true, "start:1#1 start:2#1"},
		{"overlap ends one", []schedule.Occurrence{lec, occ(2, "30m", "2h")}, nil, []schedule.Occurrence{lec, occ(2, "30m", "2h")}, time.Hour, true, "stop:1#1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState()
			for _, o := range tt.running {
				s.Parts[o.Key] = 1
				s.Running[o.Key] = Rec{ID: RecordingID(o.Key, 1, o.Start), Occ: o, Part: 1, Started: o.Start}
			}
			for _, k := range tt.stopped {
				s.Stopped[k] = true
			}
			_, a := p.Reconcile(s, Inputs{Now: t0.Add(tt.at), Trusted: tt.trusted, Plan: planOf(tt.occs...)})
			if got := acts(a); got != tt.want {
				t.Errorf("actions = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReconcileFollowsSeriesEdit(t *testing.T) {
	p := Policy{}
	old := occ(101, "0s", "1h", func(o *schedule.Occurrence) { o.ParentID = 100 })
	s, a := p.Reconcile(NewState(), Inputs{Now: t0, Trusted: true, Plan: planOf(old)})
	if acts(a) != "start:101#1" {
		t.Fatalf("start: %s", acts(a))
	}
	id := a[0].Rec.ID
	// The series was edited: the occurrence came back with a new id and a later end.
	edited := occ(205, "0s", "75m", func(o *schedule.Occurrence) { o.ParentID = 100; o.TemplateEntryID = "1_other" })
	s, a = p.Reconcile(s, Inputs{Now: t0.Add(time.Hour), Trusted: true, Plan: planOf(edited)})
	if len(a) != 0 {
		t.Fatalf("edit caused actions %s", acts(a))
	}
	r, ok := s.Running["205"]
	if !ok || r.ID != id || !r.Occ.End.Equal(t0.Add(75*time.Minute)) || r.Occ.TemplateEntryID != "1_template" {
		t.Fatalf("running after edit = %+v", s.Running)
	}
	_, a = p.Reconcile(s, Inputs{Now: t0.Add(75 * time.Minute), Trusted: true, Plan: planOf(edited)})
	if acts(a) != "stop:205#1" || a[0].Rec.ID != id {
		t.Fatalf("end: %s", acts(a))
	}
}

func TestButton(t *testing.T) {
	p := Policy{AdHocMax: time.Hour}
	lec := occ(1, "0s", "1h")
	in := func(at time.Duration, occs ...schedule.Occurrence) Inputs {
		return Inputs{Now: t0.Add(at), Trusted: true, Plan: planOf(occs...)}
	}

	// Idle press: ad-hoc start; press again: stop.
	s, a := p.Button(NewState(), in(-2*time.Hour), hal.Press, "Room 204")
	if acts(a) != "start:adhoc#1" || a[0].Rec.Occ.Title != "Room 204" {
		t.Fatalf("idle press: %s", acts(a))
	}
	s, a = p.Button(s, in(-90*time.Minute), hal.Press, "Room 204")
	if acts(a) != "stop:adhoc#1" || len(s.Running) != 0 {
		t.Fatalf("second press: %s", acts(a))
	}

	// Ad-hoc stops by itself at the maximum.
	s, _ = p.Button(NewState(), in(-3*time.Hour), hal.Press, "Room 204")
	_, a = p.Reconcile(s, in(-2*time.Hour))
	if acts(a) != "stop:adhoc#1" {
		t.Fatalf("ad-hoc max: %s", acts(a))
	}

	// Scheduled: a press only acknowledges; a long press stops early; a press resumes as part 2.
	s, a = p.Reconcile(NewState(), in(0, lec))
	if acts(a) != "start:1#1" {
		t.Fatal(acts(a))
	}
	s, a = p.Button(s, in(time.Minute, lec), hal.Press, "Room 204")
	if len(a) != 0 || p.LED(s, in(time.Minute, lec)) != hal.Off || p.LED(s, in(time.Minute+time.Second, lec)) != hal.On {
		t.Fatalf("ack: %s, LED %v then %v", acts(a), p.LED(s, in(time.Minute, lec)), p.LED(s, in(time.Minute+time.Second, lec)))
	}
	s, a = p.Button(s, in(20*time.Minute, lec), hal.LongPress, "Room 204")
	if acts(a) != "stop:1#1" {
		t.Fatalf("long press: %s", acts(a))
	}
	s, a = p.Reconcile(s, in(25*time.Minute, lec))
	if len(a) != 0 || p.LED(s, in(25*time.Minute, lec)) != hal.Off {
		t.Fatalf("stopped event restarted: %s", acts(a))
	}
	s, a = p.Button(s, in(30*time.Minute, lec), hal.Press, "Room 204")
	if acts(a) != "start:1#2" {
		t.Fatalf("resume: %s", acts(a))
	}
	_, a = p.Reconcile(s, in(time.Hour, lec))
	if acts(a) != "stop:1#2" {
		t.Fatalf("end of part 2: %s", acts(a))
	}
}

func TestLED(t *testing.T) {
	p := Policy{}
	lec := occ(1, "0s", "1h")
	cases := []struct {
		at      time.Duration
		running bool
		faults  []Fault
		trusted bool
		want    hal.Pattern
	}{
		{-2 * time.Minute, false, nil, true, hal.Off},
		{-time.Minute, false, nil, true, hal.SlowBlink},
		{-time.Second, false, nil, true, hal.SlowBlink},
		{-time.Second, false, nil, false, hal.Off},
		{0, true, nil, true, hal.On},
		{0, true, []Fault{{"capture", "no signal"}}, true, hal.FastBlink},
		{-time.Hour, false, []Fault{{"clock", "clock not set"}}, false, hal.FastBlink},
	}
	for _, c := range cases {
		s := NewState()
		if c.running {
			s.Running["1"] = Rec{Occ: lec}
		}
		if got := p.LED(s, Inputs{Now: t0.Add(c.at), Trusted: c.trusted, Plan: planOf(lec), Faults: c.faults}); got != c.want {
			t.Errorf("at %v running=%v faults=%v: LED %v, want %v", c.at, c.running, c.faults, got, c.want)
		}
	}
}

func TestWake(t *testing.T) {
	p := Policy{}
	occs := []schedule.Occurrence{occ(1, "10m", "1h"), occ(2, "2h", "3h")}
	s := NewState()
	var got []string
	now := t0
	for i := 0; i < 6; i++ {
		w := p.Wake(s, Inputs{Now: now, Plan: planOf(occs...)})
		if w.IsZero() {
			break
		}
		got = append(got, w.Sub(t0).String())
		now = w
	}
	if want := "9m0s 10m0s 1h0m0s 1h59m0s 2h0m0s 3h0m0s"; strings.Join(got, " ") != want {
		t.Errorf("wakes = %v, want %s", got, want)
	}
}

func TestScreen(t *testing.T) {
	p := Policy{}
	lec := occ(1, "10m", "1h")
	got := p.Screen(NewState(), Inputs{Now: t0, Trusted: true, Plan: planOf(lec)}, time.UTC)
	if got[0] != "IDLE 09:00" || got[1] != "Next 09:10 Lecture 1" {
		t.Errorf("idle screen = %q", got)
	}
	s, _ := p.Reconcile(NewState(), Inputs{Now: t0.Add(10 * time.Minute), Trusted: true, Plan: planOf(lec)})
	got = p.Screen(s, Inputs{Now: t0.Add(22*time.Minute + 5*time.Second), Trusted: true, Plan: planOf(lec), Faults: []Fault{{"capture", "NO SIGNAL"}}}, time.UTC)
	if got[0] != "REC 00:12:05" || got[1] != "! NO SIGNAL" {
		t.Errorf("recording screen = %q", got)
	}
}

// TestLongPressStopsThePlansPrimary: the one event a long press stops is
// the plan's choice (plan.Compare: priority 1 highest, 0 undefined last,
// then start, then id).
func TestLongPressStopsThePlansPrimary(t *testing.T) {
	occs := []schedule.Occurrence{occ(3, "0s", "1h"), occ(2, "0s", "1h"), occ(1, "5m", "1h"), occ(4, "10m", "1h", func(o *schedule.Occurrence) { o.Priority = 1 }), occ(5, "0s", "1h", func(o *schedule.Occurrence) { o.Priority = 9 })}
	p := Policy{}
	in := Inputs{Now: t0.Add(20 * time.Minute), Trusted: true, Plan: planOf(occs...)}
	s, _ := p.Reconcile(NewState(), in)
	var got []string
	for range occs {
		var a []Action
		s, a = p.Button(s, in, hal.LongPress, "Room")
		got = append(got, acts(a))
	}
	if g := strings.Join(got, " "); g != "stop:4#1 stop:5#1 stop:2#1 stop:3#1 stop:1#1" {
		t.Errorf("long presses = %s, want the order 4,5,2,3,1", g)
	}
	want, _ := in.Plan.Primary(in.Now)
	if want.Key != "4" {
		t.Errorf("plan primary %s, want 4", want.Key)
	}
}

// TestBlackoutHoldsARunningRecording: a blackout that arrives while an
// event records stops it and keeps the file (the plan no longer records
// it; nothing rewrites the event as cancelled).
func TestBlackoutHoldsARunningRecording(t *testing.T) {
	p := Policy{}
	lec := occ(1, "0s", "1h", func(o *schedule.Occurrence) { o.ResourceIDs = []int64{58} })
	s, a := p.Reconcile(NewState(), Inputs{Now: t0.Add(time.Minute), Trusted: true, Plan: planOf(lec)})
	if acts(a) != "start:1#1" {
		t.Fatalf("start: %s", acts(a))
	}
	black := occ(9, "30m", "2h", func(o *schedule.Occurrence) { o.Type, o.ResourceIDs = schedule.TypeBlackout, []int64{58} })
	_, a = p.Reconcile(s, Inputs{Now: t0.Add(2 * time.Minute), Trusted: true, Plan: planOf(lec, black)})
	if acts(a) != "hold:1#1" || !strings.Contains(a[0].Why, "blackout 9") {
		t.Fatalf("after blackout: %s %v", acts(a), a)
	}
}

func TestCarryDoneFailed(t *testing.T) {
	p := Policy{}
	lec, other := occ(1, "0s", "1h"), occ(2, "0s", "30m")
	s, a := p.Reconcile(NewState(), Inputs{Now: t0, Trusted: true, Plan: planOf(lec, other)})
	s, todo := Carry(s, a)
	if len(s.Pending) != 0 || acts(todo) != "start:1#1 start:2#1" {
		t.Fatalf("carry starts: pending %v todo %s", s.Pending, acts(todo))
	}
	// The start of 2 fails: it is not running and its part is given back.
	s = Failed(s, todo[1])
	if _, ok := s.Running["2"]; ok || s.Parts["2"] != 0 || s.Parts["1"] != 1 {
		t.Fatalf("after failed start: running %v parts %v", s.Running, s.Parts)
	}
	// The next decision starts it again, as part 1.
	s, a = p.Reconcile(s, Inputs{Now: t0.Add(time.Second), Trusted: true, Plan: planOf(lec, other)})
	if acts(a) != "start:2#1" {
		t.Fatalf("restart: %s", acts(a))
	}
	// A stop stays pending until done, through a failure.
	s, a = p.Reconcile(s, Inputs{Now: t0.Add(30 * time.Minute), Trusted: true, Plan: planOf(lec, other)})
	s, todo = Carry(s, a)
	if len(s.Pending) != 1 || acts(todo) != "stop:2#1" {
		t.Fatalf("carry stop: pending %v todo %s", s.Pending, acts(todo))
	}
	s = Failed(s, todo[0])
	s, todo = Carry(s, nil)
	if len(s.Pending) != 1 || acts(todo) != "stop:2#1" {
		t.Fatalf("retry: pending %v todo %s", s.Pending, acts(todo))
	}
	s = Done(s, todo[0])
	if len(s.Pending) != 0 {
		t.Fatalf("done: pending %v", s.Pending)
	}
}

// TestOneLectureOneEntry: the parts of a scheduled event (a crash, a
// button stop and resume) are collected, never published alone, and
// joined once when the event's recording ends; the decision lives in the
// saved state at every step, so a crash in between still joins once.
// With KeepPartsSeparate every part is published on its own.
func TestOneLectureOneEntry(t *testing.T) {
	lec := occ(1, "0s", "1h")
	in := func(at time.Duration) Inputs { return Inputs{Now: t0.Add(at), Trusted: true, Plan: planOf(lec)} }
	step := func(s State, a []Action) State {
		s, todo := Carry(s, a)
		for _, x := range todo {
			s = Done(s, x)
		}
		return s
	}
	p := Policy{}
	s, a := p.Reconcile(NewState(), in(0))
	s = step(s, a)
	part1 := s.Running["1"].ID
	// A crash: the running part is collected.
	s, rec := p.Recovered(s)
	if len(rec) != 1 || len(s.Running) != 0 || !slices.Equal(s.Lecture["1"], []string{part1}) {
		t.Fatalf("recovered: %v running %v lecture %v", rec, s.Running, s.Lecture)
	}
	if !s.Waiting()[part1] {
		t.Fatal("a collected part is not waiting: the recovery would upload it alone")
	}
	s, a = p.Reconcile(s, in(10*time.Minute))
	if acts(a) != "start:1#2" {
		t.Fatalf("after the crash: %s", acts(a))
	}
	s = step(s, a)
	part2 := s.Running["1"].ID
	// A long press stops it (collected, not published); a press resumes.
	s, a = p.Button(s, in(20*time.Minute), hal.LongPress, "Room")
	if len(a) != 1 || a[0].Disposition() != Collect {
		t.Fatalf("long press: %s collect %v", acts(a), a)
	}
	s = step(s, a)
	s, a = p.Button(s, in(30*time.Minute), hal.Press, "Room")
	s = step(s, a)
	part3 := s.Running["1"].ID
	// Nothing joins while the event is on.
	if _, a = p.Reconcile(s, in(40*time.Minute)); len(a) != 0 {
		t.Fatalf("mid-event: %s", acts(a))
	}
	// The end: the stop collects the last part; the join follows it.
	s, a = p.Reconcile(s, in(time.Hour))
	if acts(a) != "stop:1#3" || a[0].Disposition() != Collect {
		t.Fatalf("end: %s", acts(a))
	}
	s, todo := Carry(s, a)
	// A crash with the stop pending: the part is still waiting.
	if !s.Waiting()[part3] {
		t.Fatal("a part whose stop is pending is not waiting")
	}
	s = Done(s, todo[0])
	s, a = p.Reconcile(s, in(time.Hour+time.Second))
	want := []string{part1, part2, part3}
	if len(a) != 1 || a[0].Kind != Join || !slices.Equal(a[0].Parts, want) || a[0].Rec.ID != JoinedID(part1) || a[0].Rec.Occ.Title != lec.Title {
		t.Fatalf("join: %s %+v", acts(a), a)
	}
	s, todo = Carry(s, a)
	if len(s.Lecture) != 0 || !s.Waiting()[part2] {
		t.Fatalf("pending join: lecture %v waiting %v", s.Lecture, s.Waiting())
	}
	// Retried after a failure (a crash), then done once.
	s = Failed(s, todo[0])
	if _, todo = Carry(s, nil); acts(todo) != acts(a) {
		t.Fatalf("join not retried: %s", acts(todo))
	}
	s = Done(s, todo[0])
	if len(s.Pending) != 0 || len(s.Waiting()) != 0 {
		t.Fatalf("after the join: pending %v waiting %v", s.Pending, s.Waiting())
	}
	if _, a = p.Reconcile(s, in(2*time.Hour)); len(a) != 0 {
		t.Fatalf("after the join: %s", acts(a))
	}

	// Kept separate: every stop publishes, a crash collects nothing.
	sep := Policy{KeepPartsSeparate: true}
	s, a = sep.Reconcile(NewState(), in(0))
	s = step(s, a)
	s, _ = sep.Recovered(s)
	if len(s.Lecture) != 0 || len(s.Waiting()) != 0 {
		t.Fatalf("separate, recovered: lecture %v", s.Lecture)
	}
	s, a = sep.Reconcile(s, in(time.Minute))
	s = step(s, a)
	s, a = sep.Reconcile(s, in(time.Hour))
	if acts(a) != "stop:1#2" || a[0].Disposition() != Publish {
		t.Fatalf("separate end: %s", acts(a))
	}
	s = step(s, a)
	if _, a = sep.Reconcile(s, in(time.Hour+time.Second)); len(a) != 0 {
		t.Fatalf("separate: %s", acts(a))
	}
}
