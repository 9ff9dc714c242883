#!/usr/bin/env bash
# vendor-cgo-files.sh DIR: after "go mod vendor" in DIR, copy into vendor/
# the folders of each vendored package that hold no Go files (go mod vendor
# leaves them out): cgo's prebuilt static libraries and headers, such as
# pion/mediadevices' pkg/codec/openh264/lib and include. Buildroot builds
# with -mod=vendor and no proxy, so they must be in the tarball.
set -euo pipefail
dir=${1:?usage: vendor-cgo-files.sh DIR}
cd "$dir"
[ -f vendor/modules.txt ] || { echo "vendor-cgo-files: no vendor/modules.txt in $dir" >&2; exit 1; }
mod="" moddir=""
while read -r first rest; do
	case $first in
	'#')
		read -r -a words <<<"$rest"
		mod=${words[0]:-} moddir=""
		[ "${#words[@]}" -ge 2 ] || continue
		moddir=$(GOFLAGS=-mod=mod go mod download -json "$mod@${words[1]}" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		;;
	'##') ;;
	*)
		[ -n "$moddir" ] || continue
		src="$moddir${first#"$mod"}"
		[ -d "$src" ] || continue
		for sub in "$src"/*/; do
			[ -d "$sub" ] || continue
			case $(basename "$sub") in testdata | LICENSES | test-*) continue ;; esac
			if [ -z "$(find "$sub" -name '*.go' -print -quit)" ]; then
				dst="vendor/$first/$(basename "$sub")"
				mkdir -p "$dst"
				cp -r "$sub". "$dst/"
				chmod -R u+w "$dst"
				echo "vendor-cgo-files: $first/$(basename "$sub")"
			fi
		done
		;;
	esac
done <vendor/modules.txt
