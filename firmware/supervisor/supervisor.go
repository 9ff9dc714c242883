// Package supervisor runs the box's subsystems inside the one binary and
// restarts any that fail, with exponential backoff, in the manner of
// gokrazy's supervise.go. Each subsystem is a Run(ctx) error; a subsystem
// that returns nil while the context is still live has finished and is not
// restarted. The supervisor also keeps the last log lines in a ring buffer
// (see Ring) so that the console can show them without a network.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Subsystem is one long-running part of the box.
type Subsystem struct {
	Name string
	Run  func(ctx context.Context) error
}

// Policy sets the restart backoff.
type Policy struct {
	// Initial is the delay after the first failure (default 1s).
	Initial time.Duration
	// Max caps the delay (default 1m).
	Max time.Duration
	// Reset: a subsystem that ran this long before failing starts again
	// from Initial (default 5m).
	Reset time.Duration
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	if p.Reset <= 0 {
		p.Reset = 5 * time.Minute
	}
	return p
}

// NextDelay returns the restart delay after a failure, given the previous
// delay and how long the subsystem ran. It is a pure function.
func (p Policy) NextDelay(prev, ran time.Duration) time.Duration {
	p = p.withDefaults()
	if prev <= 0 || ran >= p.Reset {
		return p.Initial
	}
	next := prev * 2
	if next > p.Max {
		next = p.Max
	}
	return next
}

// Status is the state of one subsystem, for the console.
type Status struct {
	Name      string
	Running   bool
	Restarts  int
	LastError string
	Since     time.Time // when it last started
}

// Supervisor runs subsystems and restarts them.
type Supervisor struct {
	log    *slog.Logger
	policy Policy

	mu     sync.Mutex
	status map[string]*Status
	order  []string
}

// New returns a Supervisor that logs restarts to log.
func New(log *slog.Logger, policy Policy) *Supervisor {
	return &Supervisor{log: log, policy: policy.withDefaults(), status: map[string]*Status{}}
}

// Run runs every subsystem until ctx ends, restarting failures. It returns
// when ctx is done and every subsystem has returned.
func (s *Supervisor) Run(ctx context.Context, subs ...Subsystem) error {
	var wg sync.WaitGroup
	for _, sub := range subs {
		s.mu.Lock()
		if _, dup := s.status[sub.Name]; dup {
			s.mu.Unlock()
			return fmt.Errorf("supervisor: subsystem %q registered twice", sub.Name)
		}
		s.status[sub.Name] = &Status{Name: sub.Name}
		s.order = append(s.order, sub.Name)
		s.mu.Unlock()
	}
	for _, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.keep(ctx, sub)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func (s *Supervisor) keep(ctx context.Context, sub Subsystem) {
	var delay time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		s.update(sub.Name, func(st *Status) { st.Running, st.Since = true, start })
		err := runSafely(ctx, sub)
		ran := time.Since(start)
		s.update(sub.Name, func(st *Status) {
			st.Running = false
			if err != nil {
				st.LastError = err.Error()
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			s.log.Info("subsystem finished", "subsystem", sub.Name)
			return
		}
		delay = s.policy.NextDelay(delay, ran)
		s.update(sub.Name, func(st *Status) { st.Restarts++ })
		s.log.Error("subsystem failed; restarting", "subsystem", sub.Name, "err", err, "after", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// ErrPanic wraps a panic recovered from a subsystem.
var ErrPanic = errors.New("subsystem panicked")

func runSafely(ctx context.Context, sub Subsystem) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return sub.Run(ctx)
}

func (s *Supervisor) update(name string, f func(*Status)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.status[name])
}

// Statuses returns the state of every subsystem in registration order.
func (s *Supervisor) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, *s.status[n])
	}
	return out
}
