#!/bin/sh
# layout.sh: the SD card's partitions (genimage.cfg.in makes them), for the
# init scripts. Sourced.
#   1 boot  FAT: firmware, U-Boot, boot.scr, rauc.env, capturebox.toml
#   2 A     ext4: root filesystem slot A (read-only)
#   3 B     ext4: root filesystem slot B (read-only)
#   4 data  ext4: recordings, queue, cache, state; grown on first boot
# shellcheck disable=SC2034 # the variables are read by callers
LAYOUT_BOOT=1
LAYOUT_A=2
LAYOUT_B=3
LAYOUT_DATA=4

# layout_rootdev: the partition the root filesystem is on: root= of the
# kernel command line, else the device mounted on / (after an initramfs).
layout_rootdev() {
	read -r cmdline <"${PROC_CMDLINE:-/proc/cmdline}" || cmdline=""
	# shellcheck disable=SC2086 # split into words on purpose
	for arg in $cmdline; do
		case $arg in root=/dev/*) echo "${arg#root=}" && return 0 ;; esac
	done
	while read -r dev mnt _; do
		if [ "$mnt" = / ] && [ "${dev#/dev/}" != "$dev" ] && [ "$dev" != /dev/root ]; then
			echo "$dev"
			return 0
		fi
	done <"${PROC_MOUNTS:-/proc/mounts}"
	return 1
}

# layout_prefix: the partition device name without its number:
# /dev/mmcblk0p2 -> /dev/mmcblk0p, /dev/vda2 -> /dev/vda.
layout_prefix() {
	root=$(layout_rootdev) || return 1
	echo "${root%%[0-9]}" | sed 's/[0-9]*$//'
}

# layout_disk: the whole disk: /dev/mmcblk0p2 -> /dev/mmcblk0.
layout_disk() {
	prefix=$(layout_prefix) || return 1
	case $prefix in
	*[0-9]p) echo "${prefix%p}" ;;
	*) echo "$prefix" ;;
	esac
}

# layout_part N: the device of partition N.
layout_part() {
	prefix=$(layout_prefix) || return 1
	echo "$prefix$1"
}
