package firmware

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/capturebox/capturebox/firmware/controller"
	"github.com/capturebox/capturebox/hal"
	"github.com/capturebox/capturebox/sync/fetch"
	"github.com/capturebox/capturebox/sync/syncer"
	"github.com/capturebox/capturebox/upload/kaltura"
)

// faults collects the conditions that need a person, by source, and wakes
// the controller when they change.
type faults struct {
	mu      sync.Mutex
	by      map[string]string
	changed chan struct{}
}

func newFaults() *faults {
	return &faults{by: map[string]string{}, changed: make(chan struct{}, 1)}
}

func (f *faults) set(source, text string) {
	f.mu.Lock()
	old, had := f.by[source]
	f.by[source] = text
	f.mu.Unlock()
	if !had || old != text {
		f.poke()
	}
}

func (f *faults) clear(source string) {
	f.mu.Lock()
	_, had := f.by[source]
	delete(f.by, source)
	f.mu.Unlock()
	if had {
		f.poke()
	}
}

func (f *faults) poke() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *faults) list() []controller.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]controller.Fault, 0, len(f.by))
	for s, t := range f.by {
		out = append(out, controller.Fault{Source: s, Text: t})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

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

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed>>32)^0x9e3779b97f4a7c15))
}

// faultingFetcher raises the "sync" fault when the schedule cannot be
// fetched for a reason a person must fix (credentials refused, a forbidden
// service, a wrong setting) and clears it when a fetch succeeds. Passing
// failures (network, Kaltura outage) are not faults: the box keeps its last
// good schedule and retries.
type faultingFetcher struct {
	inner  syncer.Fetcher
	faults *faults
}

func (f faultingFetcher) Fetch(ctx context.Context, req fetch.Request) (*fetch.Listing, error) {
	l, err := f.inner.Fetch(ctx, req)
	if err == nil {
		f.faults.clear("sync")
		return l, nil
	}
	if kaltura.Classify(err) == kaltura.ClassConfig {
		text := "SYNC REFUSED"
		var ce *kaltura.ConfigError
		if errors.As(err, &ce) && ce.Setting != "" {
			text = "CHECK " + ce.Setting
		}
		f.faults.set("sync", text)
	}
	return l, err
}
