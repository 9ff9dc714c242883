#!/usr/bin/env bash
# host-state.sh: what the tests must leave on the host as they found it
# (issue: tests touch nothing outside their own folders).
#
#   host-state.sh services   the services started at boot, one "kind name" a
#                            line: systemd units enabled, SysV start links of
#                            runlevels 2-5, active inetd.conf lines
#   host-state.sh snapshot   one line: the temporary directory's mode and
#                            those services (make records it when it starts)
#   host-state.sh compare S  exit 1, naming the difference, when the host no
#                            longer matches the snapshot S
set -euo pipefail

services() {
	if command -v systemctl >/dev/null 2>&1; then
		systemctl list-unit-files --state=enabled --no-legend 2>/dev/null | awk 'NF {print "systemd", $1}' || true
	fi
	local l
	for l in /etc/rc[2-5].d/S*; do
		[ -e "$l" ] && basename "$l" | sed -E 's/^S[0-9]+/sysv /'
	done
	if [ -f /etc/inetd.conf ]; then
		grep -Ev '^[[:space:]]*(#|$)' /etc/inetd.conf | awk '{print "inetd", $1}' || true
	fi
}

snapshot() {
	local tmp=${TMPDIR:-/tmp}
	printf 'tmp:%s:%s' "$tmp" "$(stat -c %a "$tmp")"
	services | sort -u | tr ' ' ':' | while read -r s; do printf ' %s' "$s"; done
	echo
}

case "${1:-}" in
services) services | sort -u ;;
snapshot) snapshot ;;
compare)
	before=${2:?usage: host-state.sh compare SNAPSHOT}
	now=$(snapshot)
	if [ "$before" != "$now" ]; then
		echo "host-state: the tests changed the host:" >&2
		diff <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$now") | grep '^[<>]' | sed 's/^</  before:/; s/^>/  after: /' >&2 || true
		exit 1
	fi
	echo "host-state: the temporary directory's mode and the services enabled at boot are as before the tests"
	;;
*) echo "usage: host-state.sh services|snapshot|compare SNAPSHOT" >&2; exit 2 ;;
esac
