#!/usr/bin/env bash
# extract-symbols.sh BUILDROOT_DIR: write buildroot/buildroot-<tag>.symbols,
# the names of every Kconfig symbol the pinned Buildroot release defines.
# scripts/image/check-tree.sh checks the tree's symbols against it.
set -euo pipefail
br=${1:?usage: extract-symbols.sh BUILDROOT_DIR}
here=$(cd "$(dirname "$0")/../.." && pwd)
tag=$(cat "$here/buildroot/BUILDROOT_VERSION")
out="$here/buildroot/buildroot-$tag.symbols"
{
	echo "# Every Kconfig symbol defined by Buildroot $tag (git tag $tag of github.com/buildroot/buildroot),"
	echo "# extracted by scripts/image/extract-symbols.sh from its Config.in files: names only."
	cd "$br"
	grep -rhoE '^\s*(menu)?config\s+[A-Za-z0-9_]+' . --include='Config.in*' --include='*.in' | awk '{print $2}' | sort -u
} >"$out"
echo "wrote $out ($(grep -vc '^#' "$out") symbols)"
