#!/bin/sh
# bootstate.sh: the A/B boot state, one home for its rules. Sourced by the
# RAUC custom bootloader backend (rauc-boot-backend), the boot chooser of the
# VM lab's initramfs (boot-choose) and mirrored line by line in boot.cmd,
# U-Boot's script on the Pi.
#
# The state is a text file on the FAT boot partition (BOOT_ENV, default
# /boot/rauc.env) in U-Boot's "env import -t" format, name=value a line:
#   BOOT_ORDER=A B     slots to try, first first
#   BOOT_A_LEFT=3      boots left for slot A; 0 means bad
#   BOOT_A_TRIAL=1     slot A was installed and has not yet been marked good:
#                      each boot of it costs one of BOOT_A_LEFT
# A slot in trial that is not marked good within BOOT_ATTEMPTS boots is
# skipped: the previous slot boots. A slot marked good boots for ever.
# shellcheck disable=SC2034 # the variables are the state, read by callers

BOOT_ENV=${BOOT_ENV:-/boot/rauc.env}
BOOT_ATTEMPTS=3
BOOT_SLOTS="A B"

# bootstate_defaults: the state of a freshly flashed card.
bootstate_defaults() {
	BOOT_ORDER="A B"
	BOOT_A_LEFT=$BOOT_ATTEMPTS
	BOOT_B_LEFT=0
	BOOT_A_TRIAL=0
	BOOT_B_TRIAL=0
}

# bootstate_valid_count VALUE: a count of boots (0 to 9).
bootstate_valid_count() {
	case $1 in [0-9]) return 0 ;; *) return 1 ;; esac
}

# bootstate_load: read BOOT_ENV; a missing or damaged file is the default
# state (slot A good), never an error that stops the boot.
bootstate_load() {
	bootstate_defaults
	[ -r "$BOOT_ENV" ] || return 0
	order="" a_left="" b_left="" a_trial="" b_trial=""
	while IFS='=' read -r key value; do
		case $key in
		BOOT_ORDER) order=$value ;;
		BOOT_A_LEFT) a_left=$value ;;
		BOOT_B_LEFT) b_left=$value ;;
		BOOT_A_TRIAL) a_trial=$value ;;
		BOOT_B_TRIAL) b_trial=$value ;;
		esac
	done <"$BOOT_ENV"
	case $order in "A B" | "B A") ;; *) return 0 ;; esac
	for v in "$a_left" "$b_left" "$a_trial" "$b_trial"; do
		bootstate_valid_count "$v" || return 0
	done
	BOOT_ORDER=$order BOOT_A_LEFT=$a_left BOOT_B_LEFT=$b_left BOOT_A_TRIAL=$a_trial BOOT_B_TRIAL=$b_trial
}

# bootstate_save: write BOOT_ENV atomically (temporary file, sync, rename).
bootstate_save() {
	tmp="$BOOT_ENV.tmp"
	printf 'BOOT_ORDER=%s\nBOOT_A_LEFT=%s\nBOOT_B_LEFT=%s\nBOOT_A_TRIAL=%s\nBOOT_B_TRIAL=%s\n' \
		"$BOOT_ORDER" "$BOOT_A_LEFT" "$BOOT_B_LEFT" "$BOOT_A_TRIAL" "$BOOT_B_TRIAL" >"$tmp" || return 1
	sync "$tmp" 2>/dev/null || sync
	mv -f "$tmp" "$BOOT_ENV" || return 1
	sync
}

# bootstate_slot NAME: exit 0 when NAME is a slot.
bootstate_slot() {
	case " $BOOT_SLOTS " in *" $1 "*) [ -n "$1" ] ;; *) return 1 ;; esac
}

bootstate_left() { eval "echo \"\$BOOT_${1}_LEFT\""; }
bootstate_trial() { eval "echo \"\$BOOT_${1}_TRIAL\""; }
bootstate_set() { eval "BOOT_${1}_${2}=\$3"; }

# bootstate_choose: the slot to boot now, on stdout, and the state after
# this boot (saved by the caller): the first slot in BOOT_ORDER with boots
# left; a slot in trial spends one. With none left, the first in order boots
# with its count reset, rather than no slot at all.
bootstate_choose() {
	for s in $BOOT_ORDER; do
		left=$(bootstate_left "$s")
		if [ "$left" -gt 0 ]; then
			if [ "$(bootstate_trial "$s")" = 1 ]; then
				bootstate_set "$s" LEFT $((left - 1))
			fi
			CHOSEN=$s
			return 0
		fi
	done
	first=${BOOT_ORDER%% *}
	bootstate_set "$first" LEFT "$BOOT_ATTEMPTS"
	bootstate_set "$first" TRIAL 0
	CHOSEN=$first
}

# bootstate_primary: the slot the next boot takes (without spending a boot).
bootstate_primary() {
	for s in $BOOT_ORDER; do
		if [ "$(bootstate_left "$s")" -gt 0 ]; then
			echo "$s"
			return 0
		fi
	done
	echo "${BOOT_ORDER%% *}"
}

# bootstate_set_primary SLOT: boot SLOT next, in trial (RAUC calls this after
# writing the slot).
bootstate_set_primary() {
	other=A
	[ "$1" = A ] && other=B
	BOOT_ORDER="$1 $other"
	bootstate_set "$1" LEFT "$BOOT_ATTEMPTS"
	bootstate_set "$1" TRIAL 1
}

# bootstate_set_state SLOT good|bad
bootstate_set_state() {
	case $2 in
	good)
		bootstate_set "$1" LEFT "$BOOT_ATTEMPTS"
		bootstate_set "$1" TRIAL 0
		;;
	bad)
		bootstate_set "$1" LEFT 0
		bootstate_set "$1" TRIAL 0
		;;
	*) return 1 ;;
	esac
}

# bootstate_get_state SLOT: good or bad.
bootstate_get_state() {
	if [ "$(bootstate_left "$1")" -gt 0 ]; then echo good; else echo bad; fi
}

# bootstate_current: the slot this system booted, from the kernel command
# line (rauc.slot=, which the boot chooser sets).
bootstate_current() {
	read -r cmdline <"${PROC_CMDLINE:-/proc/cmdline}" || return 1
	# shellcheck disable=SC2086 # split into words on purpose
	for arg in $cmdline; do
		case $arg in rauc.slot=*) echo "${arg#rauc.slot=}" && return 0 ;; esac
	done
	return 1
}
