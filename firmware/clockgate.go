package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// clockGate is the clock's trust (design.md §2): nothing scheduled starts or
// stops until the clock is known to be right. Once synchronised it stays
// so, but the clock is cross-checked against the Date header of every
// Kaltura reply (serverTime): while it differs from Kaltura's by more than
// maxClockSkew it is not trusted (the fault "CLOCK OFF", the ledger's
// clock_untrusted), and a reply that agrees again restores the trust.
type clockGate struct {
	sync    hal.TimeSync
	log     *slog.Logger
	faults  *faults
	onTrust func() // called when the clock becomes trusted
	mu      sync.Mutex
	trusted bool // synchronised
	// skew is how far the box's clock was ahead of Kaltura's at the last
	// reply that found it off (0: not off).
	skew time.Duration
}

// maxClockSkew is how far the box's clock may be from Kaltura's Date
// header (which has whole seconds, and a reply's time on the way).
const maxClockSkew = time.Minute

// Trusted reports whether the clock is synchronised and agrees with
// Kaltura's.
func (g *clockGate) Trusted() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.trusted && g.skew == 0
}

// why says why the clock is not trusted, for the ledger ("" when it is,
// or when it is only not synchronised: the reason's words say that).
func (g *clockGate) why() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.skew == 0 {
		return ""
	}
	dir := "ahead of"
	if g.skew < 0 {
		dir = "behind"
	}
	// The Date header has whole seconds: to the nearest 10 s.
	return fmt.Sprintf("the box's clock is %s %s Kaltura's", abs(g.skew).Round(10*time.Second), dir)
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// serverTime cross-checks the clock against date, the Date header of a
// Kaltura reply (kaltura.Options.OnServerTime).
func (g *clockGate) serverTime(date time.Time) {
	skew := time.Now().Sub(date)
	off := abs(skew) > maxClockSkew
	g.mu.Lock()
	was, synced := g.skew != 0, g.trusted
	if off {
		g.skew = skew
	} else {
		g.skew = 0
	}
	g.mu.Unlock()
	switch {
	case off && !was:
		g.log.Error("clock: the box's clock differs from Kaltura's; scheduled recording stopped until they agree",
			"box", time.Now().UTC().Format(time.RFC3339), "kaltura", date.UTC().Format(time.RFC3339), "skew", skew.Round(time.Second))
		if g.faults != nil {
			g.faults.set("clock", "CLOCK OFF")
		}
	case !off && was:
		g.log.Info("clock: agrees with Kaltura's again", "skew", skew.Round(time.Second))
		if synced && g.faults != nil {
			g.faults.clear("clock")
		}
		if synced && g.onTrust != nil {
			g.onTrust()
		}
	}
}

// check asks the time source once, so that a box whose clock is already
// synchronised starts with a trusted clock.
func (g *clockGate) check(ctx context.Context, f *faults) {
	if g.sync == nil {
		return
	}
	if ok, err := g.sync.Synchronized(ctx); err == nil && ok {
		g.mu.Lock()
		g.trusted = true
		g.mu.Unlock()
		return
	}
	f.set("clock", "CLOCK NOT SET")
}

// run polls the time source until the clock is synchronised.
func (g *clockGate) run(f *faults) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if g.sync == nil {
			return errors.New("no time source")
		}
		if g.Trusted() {
			return nil
		}
		const poll = 5 * time.Second
		for {
			ok, err := g.sync.Synchronized(ctx)
			if err != nil {
				g.log.Warn("clock: cannot read the synchronisation state", "err", err)
			}
			if ok {
				g.mu.Lock()
				g.trusted = true
				off := g.skew != 0
				g.mu.Unlock()
				if !off {
					f.clear("clock")
				}
				f.poke()
				if g.onTrust != nil {
					g.onTrust()
				}
				g.log.Info("clock: synchronised; scheduled recording enabled", "now", time.Now().UTC().Format(time.RFC3339))
				return nil
			}
			f.set("clock", "CLOCK NOT SET")
			t := time.NewTimer(poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}
