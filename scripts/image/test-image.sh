#!/usr/bin/env bash
# test-image.sh: what "make test-image" proves of the SD card image, offline.
#   tree      scripts/image/check-tree.sh, and that it catches a bad symbol,
#             a dynamic link and a stray hash (mutations of a copy)
#   shell     shellcheck on every shell script of the tree and of scripts/image
#   bootstate the A/B rules through RAUC's custom backend interface: install,
#             trial boots, mark-good, bad update rolled back, power cut
#   bundle    Debian's rauc builds a signed bundle from the tree's manifest
#             with a key made here, verifies it, and refuses a foreign key
#   layout    Debian's genimage builds the card from the tree's genimage
#             config, boot files and overlay; the partitions and the FAT
#             partition's files are read back
# The VM boot of that card is scripts/image/test-vm.sh.
# shellcheck disable=SC2016 # the mutations are sed expressions
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tree="$repo/buildroot"
board="$tree/board/capturebox"
overlay="$board/rootfs-overlay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$PATH:/usr/sbin:/sbin"

step() { echo "== test-image: $*"; }
fail() {
	echo "test-image: FAIL: $*" >&2
	exit 1
}

step "tree: symbols of Buildroot $(cat "$tree/BUILDROOT_VERSION"), package"
"$repo/scripts/image/check-tree.sh"
mutate() {
	local what=$1 file=$2 expr=$3
	rm -rf "$work/tree"
	cp -r "$tree" "$work/tree"
	sed -i "$expr" "$work/tree/$file"
	if "$repo/scripts/image/check-tree.sh" "$work/tree" >/dev/null 2>"$work/mut.err"; then
		fail "check-tree.sh accepted a tree with $what"
	fi
	echo "   caught: $what ($(head -1 "$work/mut.err"))"
}
mutate "a symbol Buildroot lacks" configs/capturebox_rpi4_defconfig '$a BR2_PACKAGE_CAPTUREBOX_NO_SUCH_OPTION=y'
mutate "a dynamic link" package/capturebox/capturebox.mk 's/^CAPTUREBOX_EXTLDFLAGS = -static/CAPTUREBOX_EXTLDFLAGS =/'
mutate "a stray hash" package/capturebox/capturebox.hash '$a sha256 0000000000000000000000000000000000000000000000000000000000000000 go.sum'
mutate "an unhashed source" package/capturebox/capturebox.mk '/^BR_NO_CHECK_HASH_FOR/d'
mutate "BR2_STATIC_LIBS" configs/capturebox_rpi3_defconfig '$a BR2_STATIC_LIBS=y'

step "shell: shellcheck"
mapfile -t scripts < <(cd "$repo" && git ls-files -co --exclude-standard buildroot scripts/image |
	while read -r f; do head -c 64 "$f" 2>/dev/null | head -1 | grep -qE '^#!.*\b(sh|bash)\b' && echo "$f"; done)
[ "${#scripts[@]}" -ge 15 ] || fail "only ${#scripts[@]} scripts found"
(cd "$repo" && shellcheck -x "${scripts[@]}")
echo "   ${#scripts[@]} scripts clean"

step "bootstate: RAUC custom backend interface"
"$repo/scripts/image/test-bootstate.sh"

step "bundle: Debian's rauc $(rauc --version | awk '{print $2}') signs and verifies"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/O=capturebox test/CN=test signer" \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/O=someone else/CN=other" \
	-keyout "$work/other-key.pem" -out "$work/other-cert.pem" 2>/dev/null
mkdir -p "$work/rootfs"
cp -a "$overlay/." "$work/rootfs/"
mkfs.ext4 -q -F -L rootfs -d "$work/rootfs" "$work/rootfs.ext4" 16M >/dev/null
"$board/mkbundle.sh" "$work/rootfs.ext4" capturebox-rpi4 1.2.3 "$work/cert.pem" "$work/key.pem" "$work/update.raucb" >/dev/null 2>&1 ||
	fail "rauc bundle failed"
rauc info --keyring="$work/cert.pem" --output-format=shell "$work/update.raucb" >"$work/info" 2>"$work/info.err" ||
	{ cat "$work/info.err" >&2; fail "rauc info did not verify the bundle"; }
grep -q "^RAUC_MF_COMPATIBLE='capturebox-rpi4'" "$work/info" || fail "bundle compatible: $(grep COMPATIBLE "$work/info")"
grep -q "^RAUC_MF_VERSION='1.2.3'" "$work/info" || fail "bundle version"
grep -q "^RAUC_IMAGE_CLASS_0='rootfs'" "$work/info" || fail "bundle has no rootfs image"
rauc info --keyring="$work/cert.pem" "$work/update.raucb" >"$work/info.txt" 2>/dev/null
grep -qE '^Bundle Format:\s+verity' "$work/info.txt" || fail "bundle format is not verity"
if rauc info --keyring="$work/other-cert.pem" "$work/update.raucb" >/dev/null 2>&1; then
	fail "rauc info verified the bundle against a foreign key"
fi
echo "   $(stat -c %s "$work/update.raucb") bytes, verified; a foreign keyring refused"

step "layout: genimage $(genimage --version 2>&1 | head -1) builds the card"
bin="$work/images"
mkdir -p "$bin/boot-files"
cp "$work/rootfs.ext4" "$bin/rootfs.ext4"
printf 'kernel and firmware go here on the Pi\n' >"$bin/boot-files/README.txt"
"$board/mkimage.sh" "$bin" "$board/rpi4" >"$work/genimage.log" 2>&1 || { cat "$work/genimage.log" >&2; fail "genimage"; }
img="$bin/sdcard.img"
sfdisk -d "$img" >"$work/parts"
[ "$(grep -c '^/' "$work/parts")" = 4 ] || { cat "$work/parts" >&2; fail "the card has not 4 partitions"; }
grep -q "${img}1 .*type=c, bootable" "$work/parts" || fail "partition 1 is not a bootable FAT32 (LBA) partition"
for n in 2 3 4; do grep -q "${img}$n .*type=83" "$work/parts" || fail "partition $n is not Linux"; done
start1=$(sfdisk -J "$img" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][0]; print(p["start"])')
mdir -i "$img@@$((start1 * 512))" -b :: >"$work/fat"
for f in capturebox.toml rauc.env config.txt cmdline.txt hawkbit.conf.example wpa_supplicant.conf.example README.txt; do
	grep -qi "^::/$f$" "$work/fat" || { cat "$work/fat" >&2; fail "$f is not on the boot partition"; }
done
mtype -i "$img@@$((start1 * 512))" ::rauc.env | grep -qx 'BOOT_ORDER=A B' || fail "rauc.env on the card"
mtype -i "$img@@$((start1 * 512))" ::config.txt | grep -qx 'dtoverlay=disable-bt' || fail "config.txt is not the board's"
echo "   sdcard.img $(($(stat -c %s "$img") / 1048576)) MiB, rootfs slot $(sed -n 's/.*size = \(.*\)/\1/p' "$board/genimage.cfg.in" | sed -n 3p)"
step "all passed"
