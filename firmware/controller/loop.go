package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/plan"
)

// Recorder carries out recording actions: the composition root adapts the
// capture pipeline and the upload queue to it.
type Recorder interface {
	// Start begins recording r.
	Start(ctx context.Context, r Rec) error
	// Finish closes r's file and does with it what d says: publish it to
	// the upload queue, keep it on the box (held) for a technician, or
	// collect it for its event's join.
	Finish(ctx context.Context, r Rec, d Disposition, why string) error
	// Join joins the collected parts (in the order recorded) of one
	// event into the recording r.ID and publishes it. It is retried until
	// it succeeds, after a crash too, so it must be idempotent.
	Join(ctx context.Context, r Rec, parts []string) error
}

// StateStore keeps the controller's State across restarts.
type StateStore interface {
	Load() (State, error)
	Save(State) error
}

// Facts are the inputs besides the button, read when the loop wakes.
type Facts interface {
	// Schedule returns the plan of the last good schedule.
	Schedule() plan.Plan
	// Trusted reports whether the clock can be trusted.
	Trusted() bool
	// Faults returns the faults that need a person now.
	Faults() []Fault
}

// Loop drives the devices from the decisions.
type Loop struct {
	Policy   Policy
	Log      *slog.Logger
	LED      hal.LED
	Display  hal.Display // optional
	Button   hal.Button
	Recorder Recorder
	Store    StateStore
	Facts    Facts
	// Changed wakes the loop when the schedule, the faults or the clock's
	// trust changed.
	Changed <-chan struct{}
	// Room names the room, for ad-hoc titles.
	Room string
	// Loc is the box's time zone for the display.
	Loc *time.Location
	// Now is the clock (default time.Now).
	Now func() time.Time

	state  State
	led    hal.Pattern
	ledSet bool
	screen []string
	snap   chan chan Snapshot
}

// Snapshot is what the console shows of the controller.
type Snapshot struct {
	State  State
	LED    hal.Pattern
	Screen []string
	Inputs Inputs
}

// Snapshot returns the loop's current view; it blocks until the loop answers
// or ctx ends.
func (l *Loop) Snapshot(ctx context.Context) (Snapshot, error) {
	ch := make(chan Snapshot, 1)
	select {
	case l.snapCh() <- ch:
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	select {
	case s := <-ch:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

func (l *Loop) snapCh() chan chan Snapshot {
	return l.snap
}

// Init prepares the loop; it must be called before Run and Snapshot.
func (l *Loop) Init() error {
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.Loc == nil {
		l.Loc = time.UTC
	}
	l.snap = make(chan chan Snapshot)
	s, err := l.Store.Load()
	if err != nil {
		return fmt.Errorf("controller: load state: %w", err)
	}
	l.state = s
	return nil
}

// Recovered tells the loop which recordings were running when the box last
// stopped: they are no longer running (the caller recovered their files),
// so the next decision starts a further part if their event is still on.
// The new state is saved like any other transition.
// A scheduled recording's part is collected for its event's join
// (Policy.Recovered). It must be called before Run.
func (l *Loop) Recovered() []Rec {
	state, out := l.Policy.Recovered(l.state)
	l.state = state
	if len(out) > 0 {
		l.save()
	}
	return out
}

// Run runs the loop until ctx ends. Running recordings are finished and
// published when it returns, so that a clean shutdown loses nothing.
func (l *Loop) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var buttons <-chan hal.ButtonEvent
	if l.Button != nil {
		buttons = l.Button.Events()
	}
	for {
		in := l.inputs()
		state, acts := l.Policy.Reconcile(l.state, in)
		if l.apply(ctx, state, acts) {
			// A finished stop can make a join due at once (the last part
			// of an event was collected).
			in = l.inputs()
			state, acts = l.Policy.Reconcile(l.state, in)
			l.apply(ctx, state, acts)
		}
		l.show(in)

		wake := l.Policy.Wake(l.state, in)
		if len(l.state.Running) > 0 && l.Display != nil {
			// The display shows elapsed seconds.
			tick := in.Now.Truncate(time.Second).Add(time.Second)
			if wake.IsZero() || tick.Before(wake) {
				wake = tick
			}
		}
		if len(l.state.Pending) > 0 {
			retry := in.Now.Add(5 * time.Second)
			if wake.IsZero() || retry.Before(wake) {
				wake = retry
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !wake.IsZero() {
			timer.Reset(wake.Sub(l.Now()))
		}
		select {
		case <-ctx.Done():
			l.shutdown()
			return ctx.Err()
		case ev, ok := <-buttons:
			if !ok {
				buttons = nil
				continue
			}
			in := l.inputs()
			l.Log.Info("button", "kind", ev.Kind.String())
			state, acts := l.Policy.Button(l.state, in, ev.Kind, l.Room)
			l.apply(ctx, state, acts)
		case <-l.Changed:
		case <-timer.C:
		case ch := <-l.snap:
			in := l.inputs()
			ch <- Snapshot{State: l.state.Clone(), LED: l.led, Screen: slices.Clone(l.screen), Inputs: in}
		}
	}
}

func (l *Loop) inputs() Inputs {
	return Inputs{Now: l.Now(), Trusted: l.Facts.Trusted(), Plan: l.Facts.Schedule(), Faults: l.Facts.Faults()}
}

// apply moves to the decided state and carries out the actions. The state
// is what is on disk: it is saved before the devices act (so a crash after
// a start still knows the recording, and a decided stop is still pending),
// and every outcome is a transition (Done, Failed) saved like any other.
// It reports whether a stop of a part collected for a join was done.
func (l *Loop) apply(ctx context.Context, state State, acts []Action) (collected bool) {
	state, todo := Carry(state, acts)
	l.state = state
	if len(todo) == 0 {
		return false
	}
	if len(acts) > 0 {
		l.save()
	}
	changed := false
	for _, a := range todo {
		var err error
		switch a.Kind {
		case Start:
			l.Log.Info("recording start", "id", a.Rec.ID, "title", a.Rec.Occ.Title, "why", a.Why)
			err = l.Recorder.Start(ctx, a.Rec)
		case Stop, Hold:
			l.Log.Info("recording "+a.Kind.String(), "id", a.Rec.ID, "title", a.Rec.Occ.Title, "why", a.Why)
			err = l.Recorder.Finish(ctx, a.Rec, a.Disposition(), a.Why)
		case Join:
			l.Log.Info("recording join", "id", a.Rec.ID, "title", a.Rec.Occ.Title, "parts", a.Parts, "why", a.Why)
			err = l.Recorder.Join(ctx, a.Rec, a.Parts)
		}
		if err != nil {
			l.Log.Error("controller: "+a.Kind.String()+" failed; will retry", "id", a.Rec.ID, "err", err)
			if a.Kind == Start {
				l.state, changed = Failed(l.state, a), true
			}
			continue
		}
		if a.Kind != Start {
			l.state, changed = Done(l.state, a), true
			collected = collected || a.Collect
		}
	}
	if changed {
		l.save()
	}
	return collected
}

func (l *Loop) save() {
	if err := l.Store.Save(l.state); err != nil {
		l.Log.Error("controller: save state", "err", err)
	}
}

func (l *Loop) show(in Inputs) {
	p := l.Policy.LED(l.state, in)
	if !l.ledSet || p != l.led {
		if err := l.LED.Show(p); err != nil {
			l.Log.Error("controller: LED", "err", err)
		} else {
			l.led, l.ledSet = p, true
		}
	}
	lines := l.Policy.Screen(l.state, in, l.Loc)
	if l.Display != nil && !slices.Equal(lines, l.screen) {
		if err := l.Display.Show(lines...); err != nil {
			l.Log.Error("controller: display", "err", err)
		}
	}
	l.screen = lines
}

// shutdown finishes every running recording and publishes it, keeping the
// state so a restart resumes the event as a further part.
func (l *Loop) shutdown() {
	ctx := context.WithoutCancel(context.Background())
	var acts []Action
	state := l.state.Clone()
	for k, r := range state.Running {
		delete(state.Running, k)
		acts = append(acts, l.Policy.stop(r, "shutdown"))
	}
	slices.SortFunc(acts, func(a, b Action) int { return a.Rec.Started.Compare(b.Rec.Started) })
	l.apply(ctx, state, acts)
	if len(l.state.Pending) > 0 {
		l.Log.Error("controller: recordings not closed at shutdown; they will be retried at the next start", "count", len(l.state.Pending))
	}
}
