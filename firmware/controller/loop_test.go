package controller

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

type memStore struct{ saved []State }

func (m *memStore) Load() (State, error) { return NewState(), nil }
func (m *memStore) Save(s State) error   { m.saved = append(m.saved, s.Clone()); return nil }
func (m *memStore) last() State          { return m.saved[len(m.saved)-1] }

type flakyRecorder struct{ failStart, failFinish bool }

func (f *flakyRecorder) Start(context.Context, Rec) error {
	if f.failStart {
		return errors.New("no capture")
	}
	return nil
}

func (f *flakyRecorder) Finish(context.Context, Rec, Disposition, string) error {
	if f.failFinish {
		return errors.New("disk busy")
	}
	return nil
}

func (f *flakyRecorder) Join(context.Context, Rec, []string) error {
	if f.failFinish {
		return errors.New("disk busy")
	}
	return nil
}

// TestApplySavesEveryOutcome: what the loop remembers is what is on disk.
// A failed start is a saved transition (not running, part given back); a
// failed stop is saved as pending and stays there until it succeeds.
func TestApplySavesEveryOutcome(t *testing.T) {
	store, rec := &memStore{}, &flakyRecorder{failStart: true}
	l := &Loop{Log: slog.New(slog.DiscardHandler), Recorder: rec, Store: store}
	p := Policy{}
	in := Inputs{Now: t0, Trusted: true, Plan: planOf(occ(1, "0s", "1h"))}

	s, a := p.Reconcile(NewState(), in)
	l.apply(context.Background(), s, a)
	if len(store.saved) != 2 {
		t.Fatalf("%d saves, want 2 (before the start, after it failed)", len(store.saved))
	}
	if _, ok := store.saved[0].Running["1"]; !ok {
		t.Error("the start was not saved before the device acted")
	}
	if got := store.last(); len(got.Running) != 0 || got.Parts["1"] != 0 {
		t.Errorf("saved after a failed start: running %v parts %v", got.Running, got.Parts)
	}

	rec.failStart, rec.failFinish = false, true
	s, a = p.Reconcile(l.state, in)
	l.apply(context.Background(), s, a)
	if got := store.last(); got.Running["1"].Part != 1 {
		t.Fatalf("restarted as part %d, want 1", got.Running["1"].Part)
	}
	in.Now = t0.Add(time.Hour)
	s, a = p.Reconcile(l.state, in)
	l.apply(context.Background(), s, a)
	if got := store.last(); len(got.Running) != 0 || len(got.Pending) != 1 || got.Pending[0].Kind != Stop {
		t.Fatalf("saved after a failed stop: running %v pending %v", got.Running, got.Pending)
	}
	// A restart reads the pending stop back and retries it.
	n := len(store.saved)
	l2 := &Loop{Log: l.Log, Recorder: rec, Store: &memStore{saved: []State{store.last()}}}
	l2.state = store.last()
	rec.failFinish = false
	l2.apply(context.Background(), l2.state, nil)
	if got := l2.Store.(*memStore).last(); len(got.Pending) != 0 {
		t.Fatalf("pending after a successful retry: %v", got.Pending)
	}
	if len(store.saved) != n {
		t.Fatal("the first loop saved again")
	}
}

func TestRecoveredIsSaved(t *testing.T) {
	store := &memStore{}
	l := &Loop{Log: slog.New(slog.DiscardHandler), Store: store}
	l.state = NewState()
	r := Rec{ID: RecordingID("1", 1, t0), Occ: occ(1, "0s", "1h"), Part: 1, Started: t0}
	l.state.Running["1"], l.state.Parts["1"] = r, 1
	if got := l.Recovered(); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("Recovered() = %v", got)
	}
	if len(store.saved) != 1 || len(store.last().Running) != 0 || store.last().Parts["1"] != 1 {
		t.Fatalf("saved %v", store.saved)
	}
}
