#!/usr/bin/env bash
# fetch.sh: fill the VM lab's cache (.cache/vmlab/, ignored by git) with
# Debian's own ARM kernels and busybox, for tools/vmlab.
#
#   arm64/  linux-image-*-arm64 (resolved from the linux-image-arm64
#           metapackage) and busybox-static:arm64, each extracted with dpkg -x
#   armhf/  linux-image-*-armmp (from linux-image-armmp) and busybox-static:armhf
#
# The host's dpkg architectures are left alone: apt runs with a private
# configuration (its own lists, cache, status file and temporary folder,
# APT::Architecture=arm64 plus armhf) over the host's sources. Each
# architecture writes lab.env when complete; with it present the script
# does nothing (pass --refresh to fetch Debian's current versions again).
#
# The host tools (qemu-system-arm, busybox-static, cpio) are installed by
# scripts/ensure-tools.sh vmlab, which calls this script.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${CAPTUREBOX_VMLAB_CACHE:-$PWD/.cache/vmlab}
refresh=""
archs=()
for a in "$@"; do
	case "$a" in
	--refresh) refresh=1 ;;
	arm64 | armhf) archs+=("$a") ;;
	*) echo "vmlab/fetch: unknown argument $a (want arm64, armhf, --refresh)" >&2; exit 2 ;;
	esac
done
[ ${#archs[@]} -eq 0 ] && archs=(arm64 armhf)

todo=()
for a in "${archs[@]}"; do
	if [ -n "$refresh" ] || [ ! -f "$CACHE/$a/lab.env" ]; then todo+=("$a"); fi
done
[ ${#todo[@]} -eq 0 ] && exit 0

APT="$CACHE/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$APT/tmp"
# apt's _apt sandbox user writes its temporary files to TMPDIR, which must
# be world-writable and sticky; ours is private (never chmod /tmp).
chmod 1777 "$APT/tmp"
: >"$APT/status"
srclist=/etc/apt/sources.list
[ -f "$srclist" ] || srclist=/dev/null
aptopts=(
	-o "Dir::State=$APT"
	-o "Dir::State::Lists=$APT/lists"
	-o "Dir::State::status=$APT/status"
	-o "Dir::Cache=$APT/cache"
	-o "Dir::Etc::SourceList=$srclist"
	-o "Dir::Etc::SourceParts=/etc/apt/sources.list.d"
	-o "APT::Architecture=arm64"
	-o "APT::Architectures::=arm64"
	-o "APT::Architectures::=armhf"
	-o "Debug::NoLocking=1"
	-o "Acquire::Languages=none"
	-o "Acquire::Retries=3"
)
# Downloads land in a folder of ours; apt drops to _apt only as root, and
# that user cannot write inside the repository, so keep root there.
if [ "$(id -u)" = 0 ]; then aptopts+=(-o "APT::Sandbox::User=root"); fi
export TMPDIR="$APT/tmp"

# update_lists fetches the package lists. A mirror caught mid-sync serves an
# index that does not match its Release file (seen: bookworm-security's
# armhf Packages.xz, for a whole day): apt ignores that one list and exits
# 100. Try again twice, then go on with the lists that did arrive: the kernel
# and busybox are then resolved from the other suites (bookworm's own
# release), and a package no list names fails below with its name.
update_lists() {
	local try
	for try in 1 2 3; do
		echo "vmlab/fetch: apt-get update (private lists for arm64, armhf), try $try of 3" >&2
		if apt-get "${aptopts[@]}" update -qq >&2; then return 0; fi
		[ "$try" -lt 3 ] && sleep $((try * 5))
	done
	echo "vmlab/fetch: warning: some package lists did not download (above); going on with those that did" >&2
}
update_lists

# depof META ARCH: the kernel image package a metapackage depends on.
depof() {
	apt-cache "${aptopts[@]}" depends "$1:$2" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n1
}

download() { # download PKG:ARCH into $APT/debs, print the file name
	local pkg=$1
	(cd "$APT/debs" && apt-get "${aptopts[@]}" download -qq "$pkg" >&2)
	# shellcheck disable=SC2012
	ls -t "$APT/debs"/"${pkg%%:*}"_*_"${pkg##*:}".deb | head -n1
}

for a in "${todo[@]}"; do
	case "$a" in
	arm64) meta=linux-image-arm64 flavour=arm64 ;;
	armhf) meta=linux-image-armmp flavour=armmp ;;
	esac
	kpkg=$(depof "$meta" "$a")
	if [ -z "$kpkg" ]; then
		echo "vmlab/fetch: cannot resolve $meta:$a to a kernel image package" >&2
		exit 1
	fi
	echo "vmlab/fetch: $a: $kpkg, busybox-static" >&2
	kdeb=$(download "$kpkg:$a")
	bdeb=$(download "busybox-static:$a")
	out="$CACHE/$a"
	rm -rf "$out.new"
	mkdir -p "$out.new/kernel" "$out.new/busybox"
	dpkg -x "$kdeb" "$out.new/kernel"
	dpkg -x "$bdeb" "$out.new/busybox"
	vmlinuz=$(find "$out.new/kernel/boot" -name "vmlinuz-*-$flavour" | head -n1)
	kver=${vmlinuz##*/vmlinuz-}
	[ -d "$out.new/kernel/lib/modules/$kver" ] || { echo "vmlab/fetch: no modules for $kver" >&2; exit 1; }
	[ -x "$out.new/busybox/bin/busybox" ] || { echo "vmlab/fetch: no busybox in $bdeb" >&2; exit 1; }
	cat >"$out.new/lab.env" <<ENV
# written by scripts/vmlab/fetch.sh; paths relative to this folder
ARCH=$a
KERNEL_PACKAGE=$kpkg
KERNEL_VERSION=$kver
KERNEL=kernel/boot/vmlinuz-$kver
MODULES=kernel/lib/modules/$kver
BUSYBOX=busybox/bin/busybox
ENV
	rm -rf "$out"
	mv "$out.new" "$out"
	rm -f "$kdeb" "$bdeb"
done
echo "vmlab/fetch: ready in $CACHE" >&2
