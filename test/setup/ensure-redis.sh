#!/usr/bin/env bash
# redis-server for the Redis store compliance suite and Redis-backed local rings.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
source "$(dirname "$0")/apt.sh"
apt_install ensure-redis redis-server
command -v redis-server >/dev/null 2>&1 || { echo "ensure-redis: could not install redis-server" >&2; exit 1; }
# The package starts a system-wide server where it can; the tests start their own.
(service redis-server stop || true) >/dev/null 2>&1
