package firmware

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/capturebox/capturebox/hal"
)

// clockGate is the clock's trust (design.md §2): nothing scheduled starts or
// stops until the clock is known to be right. Once trusted it stays trusted.
type clockGate struct {
	sync    hal.TimeSync
	log     *slog.Logger
	onTrust func() // called once, when the clock becomes trusted
	mu      sync.Mutex
	trusted bool
}

func (g *clockGate) Trusted() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.trusted
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
				g.mu.Unlock()
				f.clear("clock")
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
