#!/usr/bin/env bash
# The whole e2e flow on a real single-node Kubernetes, torn down at the end whatever happens:
#   build (cached) -> images -> cluster up -> helm install to ready -> put/get, helm test
#   -> checks (client pod, file, messaging, metrics, restricted Pod Security, chaos, Redis
#      sidecar, rollout restart, scale 5 -> 3 -> 6 -> 3) -> down
#
#   bash test/e2e/cluster/e2e.sh          # PASTRY_E2E_KEEP=1 leaves the cluster up
#
# Prints the time of each phase at the end.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

export E2E_PHASE_LOG="${E2E_PHASE_LOG:-$(mktemp /tmp/pastry-e2e-phases.XXXXXX)}"
export PASTRY_E2E_NICE="${PASTRY_E2E_NICE:-10}"
times=()
step() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  log "=== $name"
  "$@"
  times+=("$(printf '%-22s %5d s' "$name" $(( $(date +%s) - t0 )))")
}
finish() {
  local rc=$?
  if [[ ${PASTRY_E2E_KEEP:-0} == 1 && $rc == 0 ]]; then
    log "PASTRY_E2E_KEEP=1: cluster left up; KUBECONFIG=$KUBECONFIG_FILE; bash $HERE/down.sh removes it"
  else
    local t0; t0=$(date +%s)
    bash "$HERE/down.sh" || rc=1
    times+=("$(printf '%-22s %5d s' "cluster down" $(( $(date +%s) - t0 )))")
  fi
  echo "--- e2e phase times"
  printf '%s\n' "${times[@]}"
  echo "--- detailed phases"
  cat "$E2E_PHASE_LOG" 2>/dev/null || true
  rm -f "$E2E_PHASE_LOG"
  printf '%-22s %5d s\n' "total" $(( $(date +%s) - E2E_T0 ))
  if ((rc == 0)); then echo "e2e: PASSED"; else echo "e2e: FAILED (exit $rc)"; fi
  exit $rc
}
trap finish EXIT
trap "exit 130" INT TERM HUP

step "kubernetes build" bash "$HERE/build.sh"
step "images" nice -n "$PASTRY_E2E_NICE" bash "$HERE/images.sh"
step "cluster start" bash "$HERE/up.sh"
step "install to ready" bash "$HERE/install.sh"
step "checks" bash "$HERE/checks.sh"
