#!/usr/bin/env bash
# build.sh BOARD: the SD card image and the signed RAUC bundle of one board
# (rpizero2w, rpi3, rpi4, rpi5), through Buildroot at the tag pinned in
# buildroot/BUILDROOT_VERSION. Needs network and Buildroot's prerequisites;
# "make image BOARD=rpi4" calls it.
#
#   BUILDROOT_DIR   a Buildroot checkout at the pinned tag (cloned when absent)
#   BUILDROOT_GIT   where to clone it from
#   CAPTUREBOX_RAUC_KEY, CAPTUREBOX_RAUC_CERT
#                   the update signing key and certificate; without them a
#                   development pair is made in out/rauc-dev (not for the field)
set -euo pipefail
board=${1:?usage: build.sh rpizero2w|rpi3|rpi4|rpi5}
repo=$(cd "$(dirname "$0")/../.." && pwd)
tree="$repo/buildroot"
tag=$(cat "$tree/BUILDROOT_VERSION")
[ -f "$tree/configs/capturebox_${board}_defconfig" ] || {
	echo "build.sh: no defconfig for board '$board' (rpizero2w, rpi3, rpi4, rpi5)" >&2
	exit 2
}
out="$repo/out"
brdir=${BUILDROOT_DIR:-$out/buildroot-$tag}
brgit=${BUILDROOT_GIT:-https://gitlab.com/buildroot.org/buildroot.git}
version=${CAPTUREBOX_VERSION:-$(git -C "$repo" describe --always --dirty --tags 2>/dev/null || echo dev)}

# 1. Buildroot at the pinned tag.
if [ ! -d "$brdir/.git" ]; then
	git clone --branch "$tag" --depth 1 "$brgit" "$brdir"
fi
have=$(git -C "$brdir" describe --tags --exact-match 2>/dev/null || echo none)
if [ "$have" != "$tag" ]; then
	echo "build.sh: $brdir is at $have, the tree is pinned to $tag" >&2
	exit 1
fi

# 2. The vendored source tarball (Buildroot builds Go with -mod=vendor and
#    no proxy): the committed and staged files of the repository, plus vendor/.
dl="$out/dl"
mkdir -p "$dl"
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
name="capturebox-$version"
mkdir -p "$src/$name"
(cd "$repo" && git ls-files -z --cached | grep -zv '^buildroot/' | xargs -0 cp --parents -t "$src/$name")
(cd "$src/$name" && go mod vendor)
"$repo/scripts/image/vendor-cgo-files.sh" "$src/$name"
tar -C "$src" --sort=name --owner=0 --group=0 --numeric-owner --mtime='2000-01-01' \
	-czf "$dl/$name-vendored.tar.gz" "$name"

# 3. The signing key.
if [ -z "${CAPTUREBOX_RAUC_KEY:-}" ]; then
	keys="$out/rauc-dev"
	if [ ! -f "$keys/key.pem" ]; then
		mkdir -p "$keys"
		openssl req -x509 -newkey rsa:4096 -nodes -days 3650 -subj "/O=capturebox/CN=capturebox development" \
			-keyout "$keys/key.pem" -out "$keys/cert.pem"
	fi
	echo "build.sh: signing with the DEVELOPMENT key in $keys" >&2
	CAPTUREBOX_RAUC_KEY="$keys/key.pem"
	CAPTUREBOX_RAUC_CERT="$keys/cert.pem"
fi
export CAPTUREBOX_RAUC_KEY CAPTUREBOX_RAUC_CERT CAPTUREBOX_VERSION="$version"

# 4. Buildroot.
o="$out/image-$board"
make -C "$brdir" O="$o" BR2_EXTERNAL="$tree" "capturebox_${board}_defconfig"
make -C "$o" CAPTUREBOX_VERSION="$version" CAPTUREBOX_TARBALL_DIR="$dl"
ls -l "$o/images/sdcard.img" "$o/images/capturebox-$board-$version.raucb"
