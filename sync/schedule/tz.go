package schedule

import "time"

// ResolveLocal maps a wall-clock time (the year, month, day, hour, minute and
// second of wall, whatever its location) to an instant in loc, following
// RFC 5545 §3.3.5:
//
//   - a wall time that occurs twice (the hour repeated when clocks go back)
//     is the first of the two, in the offset before the change;
//   - a wall time that does not exist (skipped when clocks go forward) is
//     read with the offset in effect before the gap, so 02:30 on the day
//     America/New_York springs forward is 07:30Z, shown as 03:30 EDT.
//
// Go's time.Date leaves the gap case unspecified (it currently gives 01:30
// EST), which would move a recording by an hour; the parser and the
// recurrence expander both go through this function instead. A nil loc is
// UTC. The result is in loc.
func ResolveLocal(wall time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, mo, d := wall.Date()
	h, mi, s := wall.Clock()
	ns := wall.Nanosecond()
	// The wall time read as if it were UTC: subtracting an offset gives
	// a candidate instant.
	asUTC := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	offsetAt := func(t time.Time) int {
		_, off := t.In(loc).Zone()
		return off
	}
	// Offsets that could apply: those a day either side and at the
	// naive instant. Zones change offset at most once in any two days.
	cands := []int{
		offsetAt(asUTC.Add(-36 * time.Hour)),
		offsetAt(asUTC),
		offsetAt(asUTC.Add(36 * time.Hour)),
	}
	var best time.Time
	found := false
	for _, off := range cands {
		inst := asUTC.Add(-time.Duration(off) * time.Second)
		if offsetAt(inst) != off {
			continue
		}
		if !found || inst.Before(best) {
			best, found = inst, true
		}
	}
	if found {
		return best.In(loc)
	}
	// In a gap: use the offset in effect before it.
	before := cands[0]
	return asUTC.Add(-time.Duration(before) * time.Second).In(loc)
}
