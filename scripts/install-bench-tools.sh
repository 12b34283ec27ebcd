#!/usr/bin/env bash
# Install the load generator the HTTP benchmark drives (wrk, from Debian's
# packages). Needs root, as apt-get does; safe to run again.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
apt-get update -qq
apt-get install -y -qq wrk
