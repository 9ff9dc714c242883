package firmware

import (
	"sort"
	"sync"

	"github.com/capturebox/capturebox/firmware/controller"
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
