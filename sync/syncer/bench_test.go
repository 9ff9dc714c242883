package syncer

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/capturebox/capturebox/sync/fetch"
	simsched "github.com/capturebox/capturebox/tools/kalturasim/schedule"
)

// heapSampler records the high-water mark of live heap objects
// (runtime/metrics /memory/classes/heap/objects:bytes: reachable objects
// plus garbage not yet swept) by sampling it every 50 µs in a goroutine.
// Sampling can miss a peak shorter than the period, so the figure is a
// lower bound of the true peak, close to it for a workload that holds its
// data for milliseconds.
type heapSampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	max  uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func readHeap(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		s := []metrics.Sample{{Name: heapMetric}}
		t := time.NewTicker(50 * time.Microsecond)
		defer t.Stop()
		for {
			v := readHeap(s)
			h.mu.Lock()
			h.max = max(h.max, v)
			h.mu.Unlock()
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.wg.Wait()
	return h.max
}

// BenchmarkSync10k: 10,000 events from the simulator's generator, listed
// over loopback HTTP in 20 pages of 500 (plus the verification query),
// scanned, parsed, planned, diffed against the previous schedule, saved to
// the on-disk cache when changed, and swapped in: one full sync1 per op.
// The simulator serving the pages runs in the same process, so its work is
// in the figures too.
//
//   - cold: every event is parsed (the first sync after boot, or a
//     schedule whose every event changed); the cache is rewritten.
//   - steady: nothing changed since the last sync (the common case every
//     two minutes): unchanged events are not parsed again and the cache is
//     not rewritten.
//
// Reported: ns/op; cpu-ms/op, the process CPU time per sync (wall time is
// meaningless on a loaded machine); peak-heap-MiB, the high-water mark of
// heap objects during the op minus the heap after a GC before it (see
// heapSampler); B/op and allocs/op.
func BenchmarkSync10k(b *testing.B) {
	e := newEnv(b, nil)
	// 10,000 events in the 14-day window: one every 2 minutes, 100 s long
	// (not overlapping, so the plan has no conflicts to list).
	ids := e.store.GenerateEvents(pid, resource, fetch.MaxMatches, t0, simsched.GenerateOptions{Every: 2 * time.Minute, Length: 100 * time.Second})
	e.ready()
	if err := e.s.sync1(context.Background()); err != nil {
		b.Fatal(err)
	}
	if n := len(e.s.Current().Events); n != len(ids) {
		b.Fatalf("%d events", n)
	}
	for _, mode := range []string{"cold", "steady"} {
		b.Run(mode, func(b *testing.B) {
			s := []metrics.Sample{{Name: heapMetric}}
			var peak uint64
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				if mode == "cold" {
					e.s.syncMu.Lock()
					e.s.hashes, e.s.savedAt = nil, time.Time{}
					e.s.syncMu.Unlock()
				}
				runtime.GC()
				base := readHeap(s)
				hs := startHeapSampler()
				c0 := cpuTime()
				b.StartTimer()
				if err := e.s.sync1(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - c0
				if m := hs.Stop(); m > base {
					peak = max(peak, m-base)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			}
		})
	}
}
