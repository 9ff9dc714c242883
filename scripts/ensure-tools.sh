#!/usr/bin/env bash
# ensure-tools.sh: install, when missing, the tools the build and the tests
# need on a fresh Debian machine that has only Go. Each argument names one
# group; nothing is installed twice.
#
#   cross    Debian's ARM cross compilers (for the static cgo ARM builds)
#   qemu     qemu-user-static (runs the ARM test binaries)
#   ffmpeg   ffprobe (checks every recording the tests make)
#   ftpd     pure-ftpd (an independent FTP server for the FTP sync tests;
#            the tests run it themselves: no service is left enabled)
#   node     Node.js and npm, and the npm packages of the test folders
#            (the official Kaltura client, ical.js)
#   bench    curl, GNU time and jq (scripts/bench-upload.sh, scripts/bench-schedule.sh)
#   image    shellcheck, genimage, rauc, squashfs-tools, mtools, dosfstools,
#            e2fsprogs, fdisk, openssl (make test-image)
#   vmlab    qemu-system-arm, busybox-static, cpio, and Debian's arm64/armhf
#            kernels and busybox in .cache/vmlab/ (scripts/vmlab/fetch.sh;
#            tools/vmlab boots them)
#   promtool promtool (checks the box's Prometheus metrics), extracted from
#            Debian's prometheus package into .cache/promtool: the package
#            is downloaded and unpacked, never installed (no server, no service)
#   chromium Debian's chromium (TestStatusPageChromium renders the status page
#            headless; CAPTUREBOX_REQUIRE_CHROMIUM=1 makes its absence a failure)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
		echo "ensure-tools: not root and no sudo: install the packages named below by hand" >&2
	fi
fi

# apt_update refreshes the host's package lists. A mirror caught mid-sync
# serves one index that does not match its Release file and apt exits 100
# having ignored only that list: warn and go on, so the install that follows
# fails by the package's name if that list was the one it needed.
apt_update() {
	$SUDO apt-get -o Acquire::Retries=3 update -qq >&2 ||
		echo "ensure-tools: warning: apt-get update could not fetch every list (above); going on with those it fetched" >&2
}

updated=""
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "ensure-tools: installing ${missing[*]}" >&2
	if [ -z "$updated" ]; then
		apt_update
		updated=1
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# apt_install_no_services installs packages that bring a daemon the tests
# run by themselves (pure-ftpd pulls in an inetd): nothing is started during
# the install (a policy-rc.d that refuses, when the machine has none), and
# every service the install enabled is disabled and stopped again, so the
# machine starts at boot exactly what it started before.
apt_install_no_services() {
	local before after policy="" kind name
	before=$(scripts/host-state.sh services)
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# ensure-tools.sh: start no service while it installs\nexit 101\n' | $SUDO tee "$policy" >/dev/null
		$SUDO chmod 0755 "$policy"
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt_install "$@"
	if [ -n "$policy" ]; then
		$SUDO rm -f "$policy"
		trap - EXIT
	fi
	after=$(scripts/host-state.sh services)
	while read -r kind name; do
		[ -n "$kind" ] || continue
		echo "ensure-tools: disabling the $kind service $name that the install enabled" >&2
		case "$kind" in
		systemd)
			if [ -d /run/systemd/system ]; then
				$SUDO systemctl disable --now "$name" >&2 || true
			else
				$SUDO systemctl disable "$name" >&2 || true
			fi
			;;
		sysv)
			[ -d /run/systemd/system ] || $SUDO "/etc/init.d/$name" stop >/dev/null 2>&1 || true
			$SUDO update-rc.d "$name" disable >/dev/null 2>&1 || true
			;;
		inetd)
			$SUDO update-inetd --disable "$name" >&2 || true
			;;
		esac
	done < <(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after"))
	after=$(scripts/host-state.sh services)
	if [ -n "$(comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after"))" ]; then
		echo "ensure-tools: installing $* left services enabled:" >&2
		comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2
		exit 1
	fi
}

npm_folder() {
	local dir=$1
	[ -f "$dir/package.json" ] || return 0
	if [ -d "$dir/node_modules" ] && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package.json" ]; then
		return 0
	fi
	echo "ensure-tools: npm install in $dir" >&2
	if [ -f "$dir/package-lock.json" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	else
		(cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
	fi
}

for group in "$@"; do
	case "$group" in
	cross) apt_install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross binutils ;;
	qemu) apt_install qemu-user-static ;;
	ffmpeg) apt_install ffmpeg ;;
	ftpd) apt_install_no_services pure-ftpd ;;
	bench) apt_install curl time jq ;;
	chromium) apt_install chromium ;;
	image) apt_install_no_services shellcheck genimage rauc squashfs-tools mtools dosfstools e2fsprogs fdisk openssl python3 ;;
	vmlab)
		apt_install qemu-system-arm busybox-static cpio
		scripts/vmlab/fetch.sh
		;;
	promtool)
		dest=.cache/promtool
		if [ ! -x "$dest/promtool" ]; then
			echo "ensure-tools: extracting promtool from Debian's prometheus package into $dest" >&2
			rm -rf "$dest/deb" "$dest/x"
			mkdir -p "$dest/deb"
			if ! (cd "$dest/deb" && apt-get download prometheus >&2); then
				apt_update
				(cd "$dest/deb" && apt-get download prometheus >&2)
			fi
			dpkg -x "$dest"/deb/prometheus_*.deb "$dest/x"
			mv "$dest/x/usr/bin/promtool" "$dest/promtool"
			rm -rf "$dest/deb" "$dest/x"
		fi
		"$dest/promtool" --version >/dev/null
		;;
	node)
		command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
		while IFS= read -r pkg; do
			npm_folder "$(dirname "$pkg")"
		done < <(git ls-files '*package.json' 2>/dev/null | grep -v node_modules || true)
		;;
	*) echo "ensure-tools: unknown group $group" >&2; exit 2 ;;
	esac
done
