#!/usr/bin/env bash
# bench-schedule.sh: the scripted schedule measurement of issue 14 ("a
# schedule bounded in time and memory for any input").
#
# sync/schedulecli/internal/genhostile writes the inputs: an ordinary
# 10,000-event listing, 4,000 identical overlapping events, one SECONDLY
# series of 75-minute events within the 10,000-instance cap, a 62 MiB file
# of 120,000 ordinary events and a 70 MiB file. Each is planned by the real
# binary, `bin/capturebox schedule -ical FILE -resource 58 -json` over
# October 2025, under GNU time, which reports the whole process's maximum
# resident set size and the elapsed time. The two large files are beyond
# the parser's limits (16 MiB, 10,000 events): they must be refused, fast
# and without reading them; the others must be planned.
#
# It prints one line per input (elapsed and CPU time: on a shared machine
# the elapsed time includes waiting for a CPU) and exits 1 when any run
# reaches BENCH_SCHEDULE_MAX_RSS_MIB (64) or BENCH_SCHEDULE_MAX_SECONDS (2)
# elapsed, or ends with an unexpected status.
#
# Environment (all optional):
#   BENCH_SCHEDULE_DIR          work directory (default out/bench-schedule)
#   BENCH_SCHEDULE_MAX_RSS_MIB  default 64
#   BENCH_SCHEDULE_MAX_SECONDS  default 2
#   BENCH_SCHEDULE_NO_BUILD     set to 1 to use the bin/capturebox there is
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${BENCH_SCHEDULE_DIR:-out/bench-schedule}
max_rss_mib=${BENCH_SCHEDULE_MAX_RSS_MIB:-64}
max_s=${BENCH_SCHEDULE_MAX_SECONDS:-2}
GO=${GO:-go}

if [ ! -x /usr/bin/time ]; then
	echo "bench-schedule: GNU time (/usr/bin/time) is needed: scripts/ensure-tools.sh time" >&2
	exit 1
fi
if [ "${BENCH_SCHEDULE_NO_BUILD:-}" != 1 ]; then
	mkdir -p bin
	$GO build -o bin/capturebox ./firmware/cmd/capturebox
fi
mkdir -p "$dir"
$GO run ./sync/schedulecli/internal/genhostile -dir "$dir"

fail=0
# name, expected exit status (0 planned, 1 refused)
for spec in ordinary10k:0 identical4000:0 secondly:0 big62mb:1 huge70mb:1; do
	name=${spec%%:*}
	want=${spec##*:}
	set +e
	/usr/bin/time -o "$dir/$name.time" -f '%M %e %U %S' bin/capturebox schedule -ical "$dir/$name.ics" -resource 58 \
		-from 2025-10-01T00:00:00Z -to 2025-11-01T00:00:00Z -json >"$dir/$name.out" 2>"$dir/$name.err"
	rc=$?
	set -e
	read -r rss_kib secs usr sys < <(tail -n 1 "$dir/$name.time")
	bytes=$(stat -c %s "$dir/$name.ics")
	lines=$(wc -l <"$dir/$name.out")
	verdict=ok
	if [ "$rc" -ne "$want" ]; then
		verdict="FAIL: exit status $rc, want $want ($(tail -n 1 "$dir/$name.err"))"
	elif [ "$rss_kib" -ge $((max_rss_mib * 1024)) ]; then
		verdict="FAIL: max RSS at or above $max_rss_mib MiB"
	elif awk -v s="$secs" -v m="$max_s" 'BEGIN { exit !(s >= m) }'; then
		verdict="FAIL: $max_s s or more"
	fi
	[ "$verdict" = ok ] || fail=1
	printf '%-14s %10d bytes  %6d lines out  max RSS %6.1f MiB  %5.2f s (cpu %5.2f s)  exit %d  %s\n' \
		"$name" "$bytes" "$lines" "$(awk -v k="$rss_kib" 'BEGIN { print k / 1024 }')" "$secs" \
		"$(awk -v u="$usr" -v s="$sys" 'BEGIN { print u + s }')" "$rc" "$verdict"
done
exit $fail
