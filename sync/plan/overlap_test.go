package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/schedule"
)

// bruteOverlap is the definition markOverlaps must agree with: every pair.
func bruteOverlap(p Plan) map[string]Overlap {
	out := map[string]Overlap{}
	for _, a := range p.Entries {
		if !a.Record {
			continue
		}
		var ahead []schedule.Occurrence
		n := 0
		for _, b := range p.Entries {
			if !b.Record || b.Key == a.Key || !(a.Start.Before(b.End) && b.Start.Before(a.End)) {
				continue
			}
			n++
			if Compare(b.Occurrence, a.Occurrence) < 0 {
				ahead = append(ahead, b.Occurrence)
			}
		}
		slices.SortFunc(ahead, Compare)
		o := Overlap{Count: n}
		for _, b := range ahead[:min(len(ahead), MaxAhead)] {
			o.Ahead = append(o.Ahead, b.Key)
		}
		out[a.Key] = o
	}
	return out
}

func TestOverlapMatchesEveryPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var events []schedule.Event
		n := 1 + rng.IntN(40)
		for i := 0; i < n; i++ {
			s := at(8, 0).Add(time.Duration(rng.IntN(24)) * 15 * time.Minute)
			d := time.Duration(1+rng.IntN(12)) * 15 * time.Minute
			opts := []evOpt{prio(rng.IntN(4))}
			switch rng.IntN(10) {
			case 0:
				opts = append(opts, status(schedule.StatusCancelled))
			case 1:
				opts = append(opts, typ(schedule.TypeLive))
			}
			events = append(events, ev(int64(1+rng.IntN(1000)*100+i), s, s.Add(d), opts...))
		}
		p := Build(events, 58, t0, t0.Add(48*time.Hour))
		want := bruteOverlap(p)
		conflicted := 0
		for _, e := range p.Entries {
			if !e.Record {
				if e.Overlap.Count != 0 || e.Overlap.Ahead != nil {
					t.Fatalf("round %d: %s is not recorded but has %+v", round, e.Key, e.Overlap)
				}
				continue
			}
			w := want[e.Key]
			if w.Count > 0 {
				conflicted++
			}
			if e.Overlap.Count != w.Count || !slices.Equal(e.Overlap.Ahead, w.Ahead) {
				t.Fatalf("round %d: %s: got %+v, want %+v", round, e.Key, e.Overlap, w)
			}
		}
		if p.Conflicted != conflicted {
			t.Fatalf("round %d: Conflicted %d, want %d", round, p.Conflicted, conflicted)
		}
	}
}

// TestOverlapBounded: 4,000 identical events (8 million overlapping pairs)
// keep a count and at most MaxAhead keys each.
func TestOverlapBounded(t *testing.T) {
	const n = 4000
	events := make([]schedule.Event, n)
	for i := range events {
		events[i] = ev(int64(i+1), at(9, 0), at(10, 0))
	}
	p := Build(events, 58, t0, t0.Add(24*time.Hour))
	if len(p.Entries) != n || p.Conflicted != n {
		t.Fatalf("%d entries, %d conflicted", len(p.Entries), p.Conflicted)
	}
	for i, e := range p.Entries {
		if e.Overlap.Count != n-1 {
			t.Fatalf("%s: count %d, want %d", e.Key, e.Overlap.Count, n-1)
		}
		if want := min(i, MaxAhead); len(e.Overlap.Ahead) != want {
			t.Fatalf("%s: %d ahead, want %d", e.Key, len(e.Overlap.Ahead), want)
		}
		if i > 0 && e.Overlap.Ahead[0] != "1" {
			t.Fatalf("%s: first ahead %s, want 1 (lowest id)", e.Key, e.Overlap.Ahead[0])
		}
	}
}

// TestBlackoutSuppressMatchesEveryPair checks the sorted blackout sweep
// against the pairwise definition.
func TestBlackoutSuppressMatchesEveryPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		var events []schedule.Event
		for i := 0; i < 1+rng.IntN(30); i++ {
			s := at(8, 0).Add(time.Duration(rng.IntN(24)) * 15 * time.Minute)
			d := time.Duration(1+rng.IntN(12)) * 15 * time.Minute
			var opts []evOpt
			if rng.IntN(4) == 0 {
				opts = append(opts, typ(schedule.TypeBlackout))
			}
			events = append(events, ev(int64(i+1), s, s.Add(d), opts...))
		}
		p := Build(events, 58, t0, t0.Add(48*time.Hour))
		for _, e := range p.Entries {
			if e.Type != schedule.TypeRecord {
				continue
			}
			covered := false
			for _, b := range p.Entries {
				if b.Type == schedule.TypeBlackout && b.Start.Before(e.End) && e.Start.Before(b.End) {
					covered = true
				}
			}
			if e.Record == covered {
				t.Fatalf("round %d: %s record=%v, blackout covers it: %v (%s)", round, e.Key, e.Record, covered, fmt.Sprint(e.Why))
			}
		}
	}
}
