#!/bin/sh
# Installs the official Kaltura Node client (kaltura-client 21.20.0) for
# the conformance test into node_modules/ beside this script.
set -eu
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
	npm ci --no-audit --no-fund
else
	npm install --no-audit --no-fund
fi
