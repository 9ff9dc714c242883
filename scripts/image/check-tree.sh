#!/usr/bin/env bash
# check-tree.sh [TREE]: offline checks of the br2-external tree (default
# buildroot/ of this repository):
#   pin      BUILDROOT_VERSION names a supported release and its symbol list
#   symbols  every BR2_ symbol the defconfigs, the fragment and the Config.in
#            files use is defined by that release or by the tree itself
#   package  capturebox.mk and capturebox.hash agree with each other, with
#            golang-package's rules and with go.mod
# Exit 1 with one line per problem.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tree=${1:-$repo/buildroot}
fail=0
problem() {
	echo "check-tree: $*" >&2
	fail=1
}

# pin
tag=$(cat "$tree/BUILDROOT_VERSION" 2>/dev/null) || { problem "no BUILDROOT_VERSION"; exit 1; }
case $tag in
2025.02.* | 2026.05.1) ;;
*) problem "BUILDROOT_VERSION $tag is neither 2025.02.x (LTS) nor 2026.05.1" ;;
esac
list="$tree/buildroot-$tag.symbols"
[ -s "$list" ] || { problem "no symbol list $list for $tag"; exit 1; }
grep -q "Buildroot $tag " "$list" || problem "$list does not say it comes from Buildroot $tag"

# symbols
own=$(grep -rhoE '^\s*(menu)?config\s+BR2_[A-Za-z0-9_]+' "$tree" --include='Config.in*' | awk '{print $2}' | sort -u)
known=$(mktemp)
trap 'rm -f "$known"' EXIT
{ grep -v '^#' "$list"; echo "$own"; } | sort -u >"$known"
used() {
	# defconfig lines (set and "is not set"), and Kconfig references.
	grep -hoE '^(# )?BR2_[A-Za-z0-9_]+' "$tree"/configs/*_defconfig "$tree"/board/*/common/*.fragment 2>/dev/null | sed 's/^# //'
	grep -rhoE '^\s*(depends on|select|default|if|comment|config|imply)\b.*' "$tree" --include='Config.in*' |
		grep -oE 'BR2_[A-Za-z0-9_]+'
	grep -rhoE '\$\((BR2_[A-Za-z0-9_]+)\)|ifeq \(\$\((BR2_[A-Za-z0-9_]+)\)' "$tree" --include='*.mk' |
		grep -oE 'BR2_[A-Za-z0-9_]+' | grep -v '^BR2_EXTERNAL_'
}
n=$(used | sort -u | wc -l)
while read -r s; do
	problem "symbol $s is not defined by Buildroot $tag (nor by the tree)"
done < <(used | sort -u | comm -23 - "$known")
[ "$n" -gt 20 ] || problem "only $n symbols found in the tree: is it there?"
for d in "$tree"/configs/*_defconfig; do
	grep -q '^BR2_STATIC_LIBS=y' "$d" && problem "$(basename "$d") sets BR2_STATIC_LIBS (it turns cgo off; the package links statically itself)"
	grep -q '^BR2_PACKAGE_CAPTUREBOX=y' "$d" || problem "$(basename "$d") does not enable capturebox"
done

# package
pkg="$tree/package/capturebox"
mk="$pkg/capturebox.mk"
hash="$pkg/capturebox.hash"
val() { sed -n "s/^$1 *[?:+]*= *//p" "$mk" | tail -1; }
for f in "$mk" "$hash" "$pkg/Config.in"; do
	[ -f "$f" ] || problem "missing $f"
done
# shellcheck disable=SC2016 # literal make syntax
grep -q '^\$(eval \$(golang-package))$' "$mk" || problem "capturebox.mk does not use golang-package"
for v in CAPTUREBOX_VERSION CAPTUREBOX_SOURCE CAPTUREBOX_SITE CAPTUREBOX_LICENSE CAPTUREBOX_GOMOD CAPTUREBOX_BUILD_TARGETS; do
	[ -n "$(val "$v")" ] || problem "capturebox.mk sets no $v"
done
gomod=$(sed -n 's/^module //p' "$repo/go.mod")
[ "$(val CAPTUREBOX_GOMOD)" = "$gomod" ] || problem "CAPTUREBOX_GOMOD $(val CAPTUREBOX_GOMOD) is not go.mod's module $gomod"
target=$(val CAPTUREBOX_BUILD_TARGETS)
grep -qs '^package main' "$repo/$target"/*.go || problem "CAPTUREBOX_BUILD_TARGETS $target is not a main package of the repository"
val CAPTUREBOX_EXTLDFLAGS | grep -qw -- -static || problem "capturebox.mk does not link statically (CAPTUREBOX_EXTLDFLAGS = -static)"
val CAPTUREBOX_GO_ENV | grep -qw CGO_ENABLED=1 || problem "capturebox.mk does not build with cgo (CAPTUREBOX_GO_ENV = CGO_ENABLED=1)"
val CAPTUREBOX_TAGS | grep -qw netgo || problem "capturebox.mk builds without the netgo tag (static binary)"
grep -q 'depends on BR2_PACKAGE_HOST_GO_TARGET_CGO_LINKING_SUPPORTS' "$pkg/Config.in" ||
	problem "package Config.in does not depend on BR2_PACKAGE_HOST_GO_TARGET_CGO_LINKING_SUPPORTS (cgo)"
source=$(val CAPTUREBOX_SOURCE)
case $source in *-vendored.tar.gz) ;; *) problem "CAPTUREBOX_SOURCE $source is not a vendored tarball" ;; esac
unhashed=$(sed -n 's/^BR_NO_CHECK_HASH_FOR += *//p' "$mk")
licfiles=$(val CAPTUREBOX_LICENSE_FILES)
hashed_source=0
while read -r algo sum file; do
	case $algo in '' | '#'*) continue ;; esac
	case $algo in
	sha256) [[ $sum =~ ^[0-9a-f]{64}$ ]] || problem "capturebox.hash: bad sha256 for $file" ;;
	sha512) [[ $sum =~ ^[0-9a-f]{128}$ ]] || problem "capturebox.hash: bad sha512 for $file" ;;
	*) problem "capturebox.hash: hash type $algo (sha256 or sha512)" ;;
	esac
	if [ "$file" = "$source" ]; then
		hashed_source=1
	elif [[ " $licfiles " == *" $file "* ]]; then
		got=$(sha256sum "$repo/$file" | cut -d' ' -f1)
		[ "$algo" != sha256 ] || [ "$got" = "$sum" ] || problem "capturebox.hash: $file has sha256 $got, not $sum"
	else
		problem "capturebox.hash names $file, which is neither the source nor a license file"
	fi
done <"$hash"
# shellcheck disable=SC2016 # literal make syntax
if [ "$hashed_source" = 0 ] && [ "$unhashed" != '$(CAPTUREBOX_SOURCE)' ]; then
	problem "capturebox.hash has no hash for $source and capturebox.mk does not list it in BR_NO_CHECK_HASH_FOR"
fi
for f in $licfiles; do
	grep -q " $f\$" "$hash" || problem "license file $f has no hash in capturebox.hash"
done
grep -q 'package/\*/\*.mk' "$tree/external.mk" || problem "external.mk does not include the packages"
grep -q 'package/capturebox/Config.in' "$tree/Config.in" || problem "Config.in does not source package/capturebox/Config.in"
grep -q '^name: CAPTUREBOX$' "$tree/external.desc" || problem "external.desc does not name the tree CAPTUREBOX"

if [ "$fail" = 0 ]; then
	echo "check-tree: Buildroot $tag: $n symbols defined, package consistent"
fi
exit "$fail"
