#!/bin/sh
# mkimage.sh BINARIES_DIR BOARD_DIR: write BINARIES_DIR/sdcard.img with
# genimage from genimage.cfg.in. BINARIES_DIR holds rootfs.ext4 and the boot
# files: everything in BINARIES_DIR/boot-files/ goes on the FAT partition,
# plus the tree's capturebox.toml, rauc.env and the examples.
# Called by post-image.sh, and by the VM lab's image test.
set -eu
BINARIES_DIR=$1
BOARD_DIR=$2
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
staging="$BINARIES_DIR/boot-files"
mkdir -p "$staging"

# The one file the AV team edits, and the first boot state (slot A good).
[ -f "$staging/capturebox.toml" ] ||
	install -m 0644 "$REPO/firmware/config/capturebox.example.toml" "$staging/capturebox.toml"
printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\nBOOT_A_TRIAL=0\nBOOT_B_TRIAL=0\n' >"$staging/rauc.env"
cp "$HERE/boot/hawkbit.conf.example" "$HERE/boot/wpa_supplicant.conf.example" "$staging/"
[ -f "$staging/cmdline.txt" ] || cp "$HERE/boot/cmdline.txt" "$staging/"
[ -z "$BOARD_DIR" ] || [ ! -f "$BOARD_DIR/config.txt" ] || cp "$BOARD_DIR/config.txt" "$staging/config.txt"

files=$(cd "$BINARIES_DIR" && find boot-files -mindepth 1 -maxdepth 1 | LC_ALL=C sort |
	sed 's/.*/\t\t\t"&",/')
cfg="$BINARIES_DIR/genimage.cfg"
awk -v files="$files" '{ if ($0 == "#BOOT_FILES#") print files; else print }' "$HERE/genimage.cfg.in" >"$cfg"

root=$(mktemp -d)
tmp=$(mktemp -d)
trap 'rm -rf "$root" "$tmp"' EXIT
genimage --rootpath "$root" --tmppath "$tmp/genimage" --inputpath "$BINARIES_DIR" \
	--outputpath "$BINARIES_DIR" --config "$cfg"
