#!/bin/sh
# mkbundle.sh ROOTFS COMPATIBLE VERSION CERT KEY OUT: a signed RAUC bundle
# (verity format) of the root filesystem image ROOTFS, from the tree's
# manifest (rauc/manifest.raucm.in). RAUC is the host's: Buildroot's
# host-rauc in post-image.sh, Debian's in the test.
set -eu
[ $# -eq 6 ] || { echo "usage: mkbundle.sh ROOTFS COMPATIBLE VERSION CERT KEY OUT" >&2; exit 2; }
rootfs=$1 compatible=$2 version=$3 cert=$4 key=$5 out=$6
HERE=$(cd "$(dirname "$0")" && pwd)
RAUC=${RAUC:-rauc}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -e "s/@COMPATIBLE@/$compatible/" -e "s/@VERSION@/$version/" \
	"$HERE/rauc/manifest.raucm.in" >"$dir/manifest.raucm"
# A copy (or a hard link): mksquashfs would pack a symbolic link as a link.
ln "$rootfs" "$dir/rootfs.ext4" 2>/dev/null || cp "$rootfs" "$dir/rootfs.ext4"
rm -f "$out"
"$RAUC" bundle --cert="$cert" --key="$key" "$dir" "$out"
