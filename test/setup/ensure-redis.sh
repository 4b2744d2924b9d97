#!/usr/bin/env bash
# redis-server for the Redis store compliance suite and Redis-backed local rings.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is missing and apt-get is not available; install Redis 7" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "ensure-redis: installing redis-server with apt-get"
# Another apt process may hold the lock for a while (a parallel setup step).
for attempt in 1 2 3 4 5 6; do
  if $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
     $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null; then
    break
  fi
  echo "ensure-redis: apt-get failed (attempt $attempt), retrying" >&2
  sleep 10
done
command -v redis-server >/dev/null 2>&1 || { echo "ensure-redis: could not install redis-server" >&2; exit 1; }
# The package starts a system-wide server where it can; the tests start their own.
(service redis-server stop || true) >/dev/null 2>&1
