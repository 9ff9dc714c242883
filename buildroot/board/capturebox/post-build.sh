#!/bin/sh
# post-build.sh TARGET_DIR BOARD: finish the root filesystem.
#   RAUC: compatible capturebox-BOARD in system.conf; the keyring from
#         CAPTUREBOX_RAUC_CERT (exported by "make image").
#   The kernel moves from /boot (where the FAT partition is mounted) to
#   /kernel, where boot.scr loads it.
set -eu
TARGET_DIR=$1
BOARD=${2:?post-build.sh: BR2_ROOTFS_POST_SCRIPT_ARGS must name the board}

sed -i "s/@COMPATIBLE@/capturebox-$BOARD/" "$TARGET_DIR/etc/rauc/system.conf"

cert=${CAPTUREBOX_RAUC_CERT:-}
if [ -z "$cert" ] || [ ! -f "$cert" ]; then
	echo "post-build.sh: CAPTUREBOX_RAUC_CERT names no certificate: run the build through 'make image'" >&2
	exit 1
fi
install -D -m 0644 "$cert" "$TARGET_DIR/etc/rauc/keyring.pem"

if [ -f "$TARGET_DIR/boot/Image" ]; then
	mkdir -p "$TARGET_DIR/kernel"
	mv "$TARGET_DIR/boot/Image" "$TARGET_DIR/kernel/Image"
fi
rm -rf "${TARGET_DIR:?}/boot"
mkdir -p "$TARGET_DIR/boot" "$TARGET_DIR/data"
