#!/usr/bin/env bash
# gen-defconfigs.sh BUILDROOT_DIR: write buildroot/configs/capturebox_<board>_defconfig
# from Buildroot's own defconfig of each board (at the pinned tag) and
# buildroot/board/capturebox/common/defconfig.fragment. A line of Buildroot's
# defconfig is kept unless the fragment or the board lines set the same symbol.
set -euo pipefail
br=${1:?usage: gen-defconfigs.sh BUILDROOT_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
tree="$here/buildroot"
tag=$(cat "$tree/BUILDROOT_VERSION")
frag="$tree/board/capturebox/common/defconfig.fragment"

symbol() { sed -n -e 's/^\(BR2_[A-Za-z0-9_]*\)=.*/\1/p' -e 's/^# \(BR2_[A-Za-z0-9_]*\) is not set$/\1/p'; }

while read -r board upstream; do
	own=$(mktemp)
	{
		grep -v '^#[^ ]\|^# capturebox\|^# buildroot\|^$' "$frag" | grep -v '^# [a-z]' || true
		echo "BR2_ROOTFS_POST_SCRIPT_ARGS=\"$board\""
		echo "BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE=\"\$(BR2_EXTERNAL_CAPTUREBOX_PATH)/board/capturebox/$board/config.txt\""
	} >"$own"
	out="$tree/configs/capturebox_${board}_defconfig"
	{
		echo "# capturebox for the board $board: Buildroot $tag configs/${upstream}_defconfig"
		echo "# with board/capturebox/common/defconfig.fragment (scripts/image/gen-defconfigs.sh)."
		while IFS= read -r line; do
			s=$(printf '%s\n' "$line" | symbol)
			if [ -n "$s" ] && symbol <"$own" | grep -qx "$s"; then
				continue
			fi
			printf '%s\n' "$line"
		done <"$br/configs/${upstream}_defconfig"
		cat "$own"
	} >"$out"
	rm -f "$own"
	echo "wrote $out"
done <<'BOARDS'
rpizero2w raspberrypizero2w_64
rpi3 raspberrypi3_64
rpi4 raspberrypi4_64
rpi5 raspberrypi5
BOARDS
