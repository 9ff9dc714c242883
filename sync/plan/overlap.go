package plan

import (
	"container/heap"
	"slices"
	"sort"
)

// MaxAhead is how many of the recordings that overlap one recording and
// rank before it (Compare) its Overlap names.
const MaxAhead = 3

// Overlap is what the plan keeps about the recordings that overlap one
// recording (design.md §2: conflicts are real, all are recorded). It is
// bounded whatever the input: a count and at most MaxAhead keys.
type Overlap struct {
	// Count is the number of other recordings that overlap it.
	Count int
	// Ahead are the keys of the overlapping recordings that rank before
	// it, best first, at most MaxAhead of them: the first is the one
	// Primary picks over it while both run. Empty when it ranks first.
	Ahead []string
}

// markOverlaps fills Overlap for every recording of entries (sorted by
// start) and returns how many recordings overlap another. It runs in
// O(n log n) time and O(n) memory for n recordings, however many of them
// overlap: 4,000 identical events have 8 million overlapping pairs, and
// listing them is what the plan must not do.
//
// Recording j overlaps recording i when j starts before i ends and ends
// after i starts. The count comes from two sorted arrays (starts, ends):
// #{s_j < e_i} − #{e_j ≤ s_i} − 1 (i itself). The best-ranked overlapping
// ones are the best of two disjoint sets: those that started at or before
// s_i and still run at s_i (a sweep in start order with a heap by rank,
// dropping what has ended), and those that start inside (s_i, e_i) (a
// range of the start order: a segment tree keeps the MaxAhead+1 best of
// each range).
func markOverlaps(entries []Entry) int {
	var rec []int // indices into entries of the recordings, by start
	for i := range entries {
		if entries[i].Record && entries[i].End.After(entries[i].Start) {
			rec = append(rec, i)
		}
	}
	n := len(rec)
	if n < 2 {
		return 0
	}
	starts := make([]int64, n)
	ends := make([]int64, n)
	for k, i := range rec {
		starts[k] = entries[i].Start.UnixNano()
		ends[k] = entries[i].End.UnixNano()
	}
	sortedEnds := slices.Clone(ends)
	slices.Sort(sortedEnds)

	// pos[k] is recording k's place in Compare order: smaller ranks first.
	order := make([]int32, n)
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return Compare(entries[rec[a]].Occurrence, entries[rec[b]].Occurrence)
	})
	pos := make([]int32, n)
	for r, k := range order {
		pos[k] = int32(r)
	}

	const keep = MaxAhead + 1 // i itself may be among the best
	tree := newTopTree(pos, keep)
	active := &rankHeap{pos: pos}
	next := 0 // recordings [0, next) in start order have been pushed
	conflicted := 0
	best := make([]int32, 0, 2*keep)
	for k := 0; k < n; k++ {
		si, ei := starts[k], ends[k]
		// Count.
		startBeforeEnd := sort.Search(n, func(j int) bool { return starts[j] >= ei })
		endedBefore := sort.Search(n, func(j int) bool { return sortedEnds[j] > si })
		count := startBeforeEnd - endedBefore - 1
		e := &entries[rec[k]]
		e.Overlap = Overlap{Count: count}
		if count <= 0 {
			e.Overlap.Count = 0
			continue
		}
		conflicted++

		// Those that started at or before s_i and still run.
		for next < n && starts[next] <= si {
			heap.Push(active, int32(next))
			next++
		}
		best = best[:0]
		var held []int32
		for active.Len() > 0 && len(held) < keep {
			j := heap.Pop(active).(int32)
			if ends[j] <= si {
				continue // ended: it overlaps nothing that starts later
			}
			held = append(held, j)
		}
		best = append(best, held...)
		for _, j := range held {
			heap.Push(active, j)
		}
		// Those that start inside (s_i, e_i).
		lo := sort.Search(n, func(j int) bool { return starts[j] > si })
		best = tree.query(lo, startBeforeEnd, best)

		slices.SortFunc(best, func(a, b int32) int { return int(pos[a]) - int(pos[b]) })
		for _, j := range best {
			if pos[j] >= pos[k] || len(e.Overlap.Ahead) == MaxAhead {
				break
			}
			e.Overlap.Ahead = append(e.Overlap.Ahead, entries[rec[j]].Key)
		}
	}
	return conflicted
}

// rankHeap is a min-heap of recordings (start-order indices) by rank.
type rankHeap struct {
	pos []int32
	h   []int32
}

func (r *rankHeap) Len() int           { return len(r.h) }
func (r *rankHeap) Less(a, b int) bool { return r.pos[r.h[a]] < r.pos[r.h[b]] }
func (r *rankHeap) Swap(a, b int)      { r.h[a], r.h[b] = r.h[b], r.h[a] }
func (r *rankHeap) Push(x any)         { r.h = append(r.h, x.(int32)) }
func (r *rankHeap) Pop() any {
	x := r.h[len(r.h)-1]
	r.h = r.h[:len(r.h)-1]
	return x
}

// topTree is a segment tree over the start order whose nodes keep the
// keep best-ranked recordings of their range.
type topTree struct {
	n, keep int
	pos     []int32
	nodes   [][]int32 // 2n nodes; leaf k at n+k
}

func newTopTree(pos []int32, keep int) *topTree {
	n := len(pos)
	t := &topTree{n: n, keep: keep, pos: pos, nodes: make([][]int32, 2*n)}
	backing := make([]int32, 0, 2*n*keep)
	for k := 0; k < n; k++ {
		backing = append(backing, int32(k))
		t.nodes[n+k] = backing[len(backing)-1 : len(backing) : len(backing)]
	}
	for v := n - 1; v > 0; v-- {
		start := len(backing)
		backing = t.merge(backing, t.nodes[2*v], t.nodes[2*v+1])
		t.nodes[v] = backing[start:len(backing):len(backing)]
	}
	return t
}

// merge appends the keep best of two rank-sorted lists to dst.
func (t *topTree) merge(dst, a, b []int32) []int32 {
	for got := 0; got < t.keep && (len(a) > 0 || len(b) > 0); got++ {
		if len(b) == 0 || len(a) > 0 && t.pos[a[0]] < t.pos[b[0]] {
			dst, a = append(dst, a[0]), a[1:]
		} else {
			dst, b = append(dst, b[0]), b[1:]
		}
	}
	return dst
}

// query appends the recordings kept by the nodes covering [lo, hi) to dst
// (at most keep per node, O(log n) nodes; the caller picks the best).
func (t *topTree) query(lo, hi int, dst []int32) []int32 {
	for lo, hi = lo+t.n, hi+t.n; lo < hi; lo, hi = lo/2, hi/2 {
		if lo&1 == 1 {
			dst = append(dst, t.nodes[lo]...)
			lo++
		}
		if hi&1 == 1 {
			hi--
			dst = append(dst, t.nodes[hi]...)
		}
	}
	return dst
}
