package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestNextDelay(t *testing.T) {
	p := Policy{Initial: time.Second, Max: 8 * time.Second, Reset: time.Minute}
	tests := []struct {
		prev, ran, want time.Duration
	}{
		{0, 0, time.Second},
		{time.Second, time.Second, 2 * time.Second},
		{4 * time.Second, time.Second, 8 * time.Second},
		{8 * time.Second, time.Second, 8 * time.Second},
		{8 * time.Second, time.Minute, time.Second},
	}
	for _, tt := range tests {
		if got := p.NextDelay(tt.prev, tt.ran); got != tt.want {
			t.Errorf("NextDelay(%v, %v) = %v, want %v", tt.prev, tt.ran, got, tt.want)
		}
	}
}

func TestRestartsWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var starts []time.Time
		var n atomic.Int32
		sup := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Policy{Initial: time.Second, Max: 4 * time.Second})
		done := make(chan error)
		t0 := time.Now()
		go func() {
			done <- sup.Run(ctx, Subsystem{Name: "flaky", Run: func(ctx context.Context) error {
				starts = append(starts, time.Now())
				if n.Add(1) == 3 {
					panic("boom")
				}
				if n.Load() >= 6 {
					<-ctx.Done()
					return nil
				}
				return errors.New("failed")
			}})
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		st := sup.Statuses()
		if len(st) != 1 || !st[0].Running || st[0].Restarts != 5 {
			t.Fatalf("status = %+v, want running with 5 restarts", st)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
		var gaps []string
		for _, s := range starts {
			gaps = append(gaps, s.Sub(t0).String())
		}
		if got, want := strings.Join(gaps, " "), "0s 1s 3s 7s 11s 15s"; got != want {
			t.Errorf("start times = %s, want %s", got, want)
		}
	})
}

func TestFinishedSubsystemNotRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		var n atomic.Int32
		sup := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Policy{})
		sup.Run(ctx, Subsystem{Name: "once", Run: func(context.Context) error { n.Add(1); return nil }})
		if n.Load() != 1 {
			t.Fatalf("ran %d times, want 1", n.Load())
		}
	})
}

func TestDuplicateName(t *testing.T) {
	sup := New(slog.New(slog.NewTextHandler(io.Discard, nil)), Policy{})
	f := func(context.Context) error { return nil }
	if err := sup.Run(t.Context(), Subsystem{"a", f}, Subsystem{"a", f}); err == nil {
		t.Fatal("duplicate names accepted")
	}
}

func TestRing(t *testing.T) {
	r := NewRing(3)
	fmt.Fprint(r, "one\ntwo\nthr")
	if got := strings.Join(r.Lines(0), "|"); got != "one|two" {
		t.Fatalf("lines = %q", got)
	}
	fmt.Fprint(r, "ee\nfour\nfive\n")
	if got := strings.Join(r.Lines(0), "|"); got != "three|four|five" {
		t.Fatalf("lines = %q", got)
	}
	if got := strings.Join(r.Lines(2), "|"); got != "four|five" {
		t.Fatalf("last 2 = %q", got)
	}
}
