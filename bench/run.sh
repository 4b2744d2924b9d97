#!/usr/bin/env bash
# The benchmarks of the real system, side by side in one run (see bench/README.md):
#   bash bench/run.sh [--runs 3] [--ops 1000] [--seconds 5] [--concurrency 64] [--big-nodes 64] ...
# Builds first (make build) unless BENCH_NO_BUILD=1, which `make bench` sets after its own build.
# Loopback only; every process it starts is stopped at the end, also on an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "bench: redis-server is not installed (sudo apt-get install redis-server)" >&2
  exit 1
fi
if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
  make build
fi
# exec: Ctrl-C and SIGTERM reach the benchmark itself, which stops what it started.
exec node bench/run.mjs "$@"
