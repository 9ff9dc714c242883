package board

import (
	"fmt"
	"testing"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// step is one input to the debouncer: a level change at an offset from t0.
type step struct {
	at      time.Duration
	pressed bool
}

// drive feeds steps to a debouncer the way Button does (advancing to each
// deadline before the next edge) and runs it to until; it returns the
// gestures as "kind@offset".
func drive(d *Debouncer, t0 time.Time, steps []step, until time.Duration) []string {
	var got []string
	advance := func(to time.Time) {
		for {
			dl, ok := d.Deadline()
			if !ok || dl.After(to) {
				break
			}
			for _, ev := range d.Advance(dl) {
				got = append(got, fmt.Sprintf("%v@%v", ev.Kind, ev.At.Sub(t0)))
			}
		}
	}
	for _, s := range steps {
		advance(t0.Add(s.at))
		d.Edge(s.pressed, t0.Add(s.at))
	}
	advance(t0.Add(until))
	return got
}

func TestDebouncer(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"clean short press", []step{{0, true}, {200 * ms, false}}, []string{"press@230ms"}},
		{"bouncy press and release", []step{
			{0, true}, {2 * ms, false}, {3 * ms, true}, {5 * ms, false}, {6 * ms, true},
			{300 * ms, false}, {301 * ms, true}, {303 * ms, false},
		}, []string{"press@333ms"}},
		{"bounce alone is nothing", []step{{0, true}, {5 * ms, false}, {10 * ms, true}, {20 * ms, false}}, nil},
		{"long press at the threshold, nothing at release", []step{{0, true}, {3 * time.Second, false}}, []string{"long-press@2s"}},
		{"released just before the threshold", []step{{0, true}, {1990 * ms, false}}, []string{"press@2.02s"}},
		{"a bounce during the hold does not restart it", []step{{0, true}, {1 * time.Second, false}, {1001 * ms, true}, {2500 * ms, false}}, []string{"long-press@2s"}},
		{"a long press timed from its first edge", []step{{0, true}, {1 * ms, false}, {2 * ms, true}, {2100 * ms, false}}, []string{"long-press@2.002s"}},
		{"two presses", []step{{0, true}, {100 * ms, false}, {400 * ms, true}, {500 * ms, false}}, []string{"press@130ms", "press@530ms"}},
		{"repeated level reports change nothing", []step{{0, true}, {10 * ms, true}, {100 * ms, false}, {120 * ms, false}}, []string{"press@130ms"}},
	}
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := drive(NewDebouncer(30*ms, 2*time.Second), t0, c.steps, 10*time.Second)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestDebouncerLateAdvance(t *testing.T) {
	// A caller woken late still gets the gestures stamped when they happened.
	d := NewDebouncer(0, 0)
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	d.Edge(true, t0)
	evs := d.Advance(t0.Add(5 * time.Second))
	if len(evs) != 1 || evs[0].Kind != hal.LongPress || !evs[0].At.Equal(t0.Add(hal.DefaultLongPress)) {
		t.Fatalf("got %v", evs)
	}
	if !d.Pressed() {
		t.Error("not pressed while held")
	}
	if _, ok := d.Deadline(); ok {
		t.Error("a deadline after the long press was sent")
	}
	d.Edge(false, t0.Add(6*time.Second))
	if evs := d.Advance(t0.Add(7 * time.Second)); len(evs) != 0 {
		t.Errorf("release after a long press gave %v", evs)
	}
}
