#!/usr/bin/env bash
# fetch-vm-userland.sh: Debian's arm64 e2fsprogs (e2fsck, resize2fs) and
# util-linux (sfdisk, partx) with their libraries and loader, for the VM
# test of the SD image: Debian's static busybox stands in for Buildroot's
# userland there, and these stand in for the Buildroot packages of the same
# names that grow the data partition on first boot. Uses the VM lab's
# private apt configuration (scripts/vmlab/fetch.sh must have run);
# extracted into <vmlab cache>/arm64-userland/root, with "done" when complete.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${CAPTUREBOX_VMLAB_CACHE:-$PWD/.cache/vmlab}
APT="$CACHE/apt"
out="$CACHE/arm64-userland"
[ -f "$out/done" ] && exit 0
[ -d "$APT/lists" ] || { echo "fetch-vm-userland: run scripts/ensure-tools.sh vmlab first" >&2; exit 1; }
srclist=/etc/apt/sources.list
[ -f "$srclist" ] || srclist=/dev/null
aptopts=(
	-o "Dir::State=$APT" -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=$APT/status"
	-o "Dir::Cache=$APT/cache" -o "Dir::Etc::SourceList=$srclist" -o "Dir::Etc::SourceParts=/etc/apt/sources.list.d"
	-o "APT::Architecture=arm64" -o "APT::Architectures::=arm64" -o "Debug::NoLocking=1" -o "Acquire::Languages=none"
)
if [ "$(id -u)" = 0 ]; then aptopts+=(-o "APT::Sandbox::User=root"); fi
export TMPDIR="$APT/tmp"
pkgs=(libc6 e2fsprogs libext2fs2 libcom-err2 libss2 libblkid1 libuuid1
	fdisk util-linux libfdisk1 libsmartcols1 libmount1 libselinux1 libpcre2-8-0
	libreadline8 libtinfo6 libudev1 libcap-ng0 libaudit1 libcrypt1 libsystemd0)
rm -rf "$out.new"
mkdir -p "$out.new/debs" "$out.new/root"
(cd "$out.new/debs" && apt-get "${aptopts[@]}" download -qq "${pkgs[@]/%/:arm64}" >&2)
for d in "$out.new"/debs/*.deb; do dpkg -x "$d" "$out.new/root"; done
rm -rf "$out.new/debs"
for b in sbin/e2fsck sbin/resize2fs sbin/sfdisk usr/bin/partx; do
	[ -e "$out.new/root/$b" ] || { echo "fetch-vm-userland: no $b" >&2; exit 1; }
done
touch "$out.new/done"
rm -rf "$out"
mv "$out.new" "$out"
echo "fetch-vm-userland: ready in $out" >&2
