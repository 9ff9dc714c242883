#!/usr/bin/env bash
# test-bootstate.sh: the A/B rules through the interfaces that use them:
# RAUC's custom bootloader backend (rauc-boot-backend, called as RAUC calls
# it during "rauc install" and "rauc status mark-good") and the boot chooser
# (boot-choose; boot.cmd on the Pi). Each case is a sequence of boots.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
board="$repo/buildroot/board/capturebox"
export CAPTUREBOX_LIBEXEC="$board/rootfs-overlay/usr/libexec/capturebox"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BOOT_ENV="$work/rauc.env"
backend="$CAPTUREBOX_LIBEXEC/rauc-boot-backend"
fail() {
	echo "test-bootstate: FAIL: $*" >&2
	cat "$BOOT_ENV" >&2 2>/dev/null
	exit 1
}
fresh() { printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\nBOOT_A_TRIAL=0\nBOOT_B_TRIAL=0\n' >"$BOOT_ENV"; }
boots() { # boots SLOT...: each boot takes the slot given
	for want in "$@"; do
		got=$("$board/boot-choose")
		[ "$got" = "$want" ] || fail "boot took slot $got, want $want"
	done
}
install_to() { # what RAUC does for an install into SLOT, in its order
	"$backend" set-state "$1" bad
	# ... RAUC writes the slot here ...
	"$backend" set-primary "$1"
}
expect() { [ "$("$backend" "$@" | tr '\n' ' ')" = "$EXPECT " ] || fail "$* said $("$backend" "$@"), want $EXPECT"; }

echo "-- fresh card: slot A boots for ever"
fresh
boots A A A A A
EXPECT=A expect get-primary
EXPECT=good expect get-state A
EXPECT=bad expect get-state B

echo "-- good update: B installed, boots on trial, marked good, boots for ever"
install_to B
EXPECT=B expect get-primary
boots B
"$backend" set-state B good
boots B B B B B
EXPECT=good expect get-state B
EXPECT=good expect get-state A

echo "-- power cut mid-install: A was being written (marked bad first), B still boots"
"$backend" set-state A bad
# ... the power goes before RAUC's set-primary ...
boots B B B
EXPECT=bad expect get-state A
EXPECT=B expect get-primary

echo "-- bad update: A installed, never marked good: 3 tries, then B for ever"
install_to A
EXPECT=A expect get-primary
boots A A A B B B B
EXPECT=bad expect get-state A
EXPECT=B expect get-primary

echo "-- a damaged state file boots slot A (the card's first state), never nothing"
printf 'BOOT_ORDER=Z\nBOOT_A_LEFT=x\n' >"$BOOT_ENV"
boots A
printf '' >"$BOOT_ENV"
boots A

echo "-- wrong calls are refused"
if "$backend" set-state C good 2>/dev/null; then fail "set-state C accepted"; fi
if "$backend" set-state A fine 2>/dev/null; then fail "set-state A fine accepted"; fi
if "$backend" frobnicate 2>/dev/null; then fail "unknown command accepted"; fi
echo "cmdline root=/dev/vda3 rauc.slot=B quiet" >"$work/cmdline"
[ "$(PROC_CMDLINE="$work/cmdline" "$backend" get-current)" = B ] || fail "get-current"
echo "test-bootstate: all cases passed"
