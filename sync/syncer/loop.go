package syncer

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// Run loads the cache (unless LoadCache was called), syncs at once, then
// every Interval, sooner on SyncNow, later after failures, until ctx ends.
// It returns ctx's error.
func (s *Syncer) Run(ctx context.Context) error {
	s.mu.Lock()
	loaded := s.loaded
	s.mu.Unlock()
	if !loaded {
		_ = s.LoadCache() // logged; a missing or bad cache does not stop syncing
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-timer.C:
		case <-s.now:
		}
		err := s.sync1(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		now := s.cfg.Clock()
		delay := s.record(now, err)
		timer.Reset(delay)
	}
}

// Once runs one sync, as the loop would, and returns the schedule it made
// current (for `capturebox schedule`, which shows what the box would act
// on). On failure the current schedule is left as it was and the error is
// returned; the status records the attempt either way.
func (s *Syncer) Once(ctx context.Context) (*Snapshot, error) {
	err := s.sync1(ctx)
	now := s.cfg.Clock()
	s.record(now, err)
	if err != nil {
		return nil, err
	}
	return s.Current(), nil
}

// record updates the status after an attempt, logs it (rate-limited) and
// returns the delay before the next attempt.
func (s *Syncer) record(now time.Time, err error) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng == nil {
		seed := uint64(now.UnixNano())
		s.rng = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	s.st.LastAttempt = now
	if err == nil {
		if s.st.ConsecutiveFailures > 0 {
			s.log.Info("schedule sync recovered", "after_failures", s.st.ConsecutiveFailures, "suppressed_logs", s.suppressed)
		}
		s.st.LastSuccess, s.st.LastError, s.st.ConsecutiveFailures = now, "", 0
		s.lastLogMsg, s.suppressed = "", 0
		d := NextDelay(s.cfg, 0, false, s.rng.Float64())
		s.st.NextAttempt = now.Add(d)
		return d
	}
	untrusted := errors.Is(err, ErrClockUntrusted)
	if !untrusted {
		s.st.ConsecutiveFailures++
	}
	msg := err.Error()
	s.st.LastError = msg
	// Rate-limited: a new kind of failure is logged at once, the same one
	// again at most every LogEvery, with the count of those not logged.
	if msg != s.lastLogMsg || now.Sub(s.lastLogAt) >= s.cfg.LogEvery {
		lvl := "warn"
		if untrusted {
			lvl = "info"
		}
		attrs := []any{"err", err, "failures", s.st.ConsecutiveFailures, "class", classOf(err).String()}
		if s.suppressed > 0 {
			attrs = append(attrs, "suppressed", s.suppressed)
		}
		if lvl == "info" {
			s.log.Info("schedule sync postponed", attrs...)
		} else {
			s.log.Warn("schedule sync failed; keeping the last good schedule", attrs...)
		}
		s.lastLogMsg, s.lastLogAt, s.suppressed = msg, now, 0
	} else {
		s.suppressed++
		s.log.Debug("schedule sync failed again", "err", err, "failures", s.st.ConsecutiveFailures)
	}
	var d time.Duration
	if untrusted {
		d = NextDelay(s.cfg, 1, false, s.rng.Float64())
	} else {
		d = NextDelay(s.cfg, s.st.ConsecutiveFailures, classOf(err) == kaltura.ClassConfig, s.rng.Float64())
	}
	s.st.NextAttempt = now.Add(d)
	return d
}

// classOf classifies a sync error for backoff: Kaltura's classes, plus
// ErrTooManyEvents as a configuration problem (the filter is too wide).
func classOf(err error) kaltura.Class {
	if errors.Is(err, fetch.ErrTooManyEvents) {
		return kaltura.ClassConfig
	}
	return kaltura.Classify(err)
}

// NextDelay is the delay before the next attempt after `failures`
// consecutive failures (0: the last attempt succeeded): the interval after
// a success; otherwise MinBackoff doubled per failure up to MaxBackoff,
// and MaxBackoff at once for a configuration fault (retrying cannot help
// until someone fixes it, but the box keeps checking). r in [0,1) applies
// the ±Jitter fraction; the result never exceeds MaxBackoff after a
// failure. It is a pure function.
func NextDelay(cfg Config, failures int, configFault bool, r float64) time.Duration {
	j := cfg.Jitter
	if j == 0 {
		j = DefaultJitter
	}
	var base time.Duration
	switch {
	case failures == 0:
		base = cfg.Interval
	case configFault:
		base = cfg.MaxBackoff
	default:
		base = cfg.MinBackoff
		for i := 1; i < failures && base < cfg.MaxBackoff; i++ {
			base *= 2
		}
		base = min(base, cfg.MaxBackoff)
	}
	d := time.Duration(float64(base) * (1 + j*(2*r-1)))
	if failures > 0 {
		d = min(d, cfg.MaxBackoff)
	}
	return max(d, time.Second)
}
