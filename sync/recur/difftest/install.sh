#!/bin/sh
# install.sh installs ical.js (pinned in package-lock.json) for the
# differential test of sync/recur. Needs node and npm (Debian: apt-get
# install -y nodejs npm) and access to the npm registry.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
