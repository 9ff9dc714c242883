#!/usr/bin/env bash
# in-ramdir.sh CMD...: run CMD with TMPDIR (so every test's t.TempDir and
# the go command's build directory) in a fresh folder on /dev/shm, removed
# afterwards. The suites fsync every fragment, sidecar and queue write; on
# the build machine's disk those fsyncs, not the code, were most of the
# qemu-user runs' time. Real-disk behaviour (a full or read-only data disk,
# a power cut) is proven by the tests that make their own file systems and
# by the VM lab's disk images, not by where TMPDIR lives. Without a
# writable /dev/shm the command runs with TMPDIR as it was.
set -euo pipefail
base=/dev/shm
# Digits only in the name: tests that scan the box's answers for Go syntax
# would take a random mixed-case suffix (mktemp's) for an identifier.
dir="$base/capturebox-test-$$-$(date +%s%N)"
if [ -d "$base" ] && [ -w "$base" ] && mkdir -m 711 "$dir" 2>/dev/null; then
	# 711: the FTP tests' virtual user crosses it
	trap 'rm -rf "$dir"' EXIT
	export TMPDIR="$dir"
fi
"$@"
