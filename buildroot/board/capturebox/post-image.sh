#!/bin/sh
# post-image.sh BINARIES_DIR BOARD: the SD card image (sdcard.img) and the
# signed RAUC update bundle (capturebox-BOARD-VERSION.raucb).
set -eu
BINARIES_DIR=$1
BOARD=${2:?post-image.sh: BR2_ROOTFS_POST_SCRIPT_ARGS must name the board}
HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=${CAPTUREBOX_VERSION:-dev}

staging="$BINARIES_DIR/boot-files"
rm -rf "$staging"
mkdir -p "$staging"
# The Pi firmware (config.txt is the board's, cmdline.txt the tree's), its
# device trees, U-Boot and the compiled boot.scr.
cp -r "$BINARIES_DIR"/rpi-firmware/. "$staging/"
for f in "$BINARIES_DIR"/*.dtb; do
	[ -e "$f" ] && cp "$f" "$staging/"
done
cp "$BINARIES_DIR/u-boot.bin" "$BINARIES_DIR/boot.scr" "$staging/"

"$HERE/mkimage.sh" "$BINARIES_DIR" "$HERE/$BOARD"

# Buildroot's host-rauc signs with the key "make image" hands over.
RAUC="$HOST_DIR/bin/rauc" "$HERE/mkbundle.sh" "$BINARIES_DIR/rootfs.ext4" \
	"capturebox-$BOARD" "$VERSION" "$CAPTUREBOX_RAUC_CERT" "$CAPTUREBOX_RAUC_KEY" \
	"$BINARIES_DIR/capturebox-$BOARD-$VERSION.raucb"
echo "post-image.sh: $BINARIES_DIR/sdcard.img and capturebox-$BOARD-$VERSION.raucb"
