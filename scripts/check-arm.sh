#!/usr/bin/env bash
# check-arm.sh BIN MACHINE [BIN MACHINE ...]: each BIN must be a statically
# linked ARM executable of the given machine (readelf), must start under
# qemu-user and print its version. Prints the sizes.
set -euo pipefail
while [ $# -ge 2 ]; do
	bin=$1 machine=$2; shift 2
	header=$(readelf -h "$bin")
	case "$machine" in
	aarch64) echo "$header" | grep -q 'Machine:.*AArch64' || { echo "$bin: not an AArch64 executable" >&2; exit 1; }; qemu=qemu-aarch64-static ;;
	arm) echo "$header" | grep -q 'Machine:.*ARM$' || { echo "$bin: not an ARM executable" >&2; exit 1; }; qemu=qemu-arm-static ;;
	esac
	if readelf -l "$bin" | grep -q INTERP; then echo "$bin: dynamically linked (has INTERP)" >&2; exit 1; fi
	if readelf -d "$bin" 2>/dev/null | grep -q NEEDED; then echo "$bin: needs shared libraries" >&2; exit 1; fi
	version=$("$qemu" "$bin" version)
	size=$(stat -c %s "$bin")
	printf '%-32s %-8s static  %6.2f MiB  %s\n' "$bin" "$machine" "$(awk "BEGIN{print $size/1048576}")" "$version"
done
