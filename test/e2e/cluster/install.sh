#!/usr/bin/env bash
# Installs charts/pastry on the cluster of up.sh with k8s/values/kind.yaml plus only the
# image overrides of images.sh, waits until every pod is Ready, then writes and reads one
# object through the client Service from this host with the pastry CLI.
#
#   bash test/e2e/cluster/install.sh            # RELEASE=pastry NAMESPACE=pastry
#
# PASTRY_E2E_HELM_ARGS adds helm flags (e.g. --set replicaCount=3).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

RELEASE=${RELEASE:-pastry}
NAMESPACE=${NAMESPACE:-pastry}
[[ -e $E2E_RUN/up.done ]] || die "no cluster: run bash $HERE/up.sh first"
[[ -s $E2E_CACHE/images/helm-set ]] || die "no images: run bash $HERE/images.sh first"
export KUBECONFIG=$KUBECONFIG_FILE
k() { kubectl --request-timeout=30s "$@"; }
cd "$E2E_REPO_ROOT"

phase "helm"
HELM=$(bash test/setup/ensure-helm.sh)
[[ -x $HELM ]] || die "no helm (test/setup/ensure-helm.sh)"
CLI=(node "$E2E_REPO_ROOT/dist/services/cli/src/main.js")
if [[ ! -f dist/services/cli/src/main.js ]]; then
  log "dist/ missing: make build"
  make build >/dev/null
fi

phase "install to ready"
read -r -a IMAGE_SET <"$E2E_CACHE/images/helm-set"
read -r -a EXTRA <<<"${PASTRY_E2E_HELM_ARGS:-}"
t_install=$(date +%s)
helm_install() {
  "$HELM" upgrade --install "$RELEASE" charts/pastry --namespace "$NAMESPACE" --create-namespace \
    -f k8s/values/kind.yaml "${IMAGE_SET[@]}" "${EXTRA[@]}" --timeout 5m 2>"$E2E_RUN/helm-install.err"
}
if ! helm_install; then
  cat "$E2E_RUN/helm-install.err" >&2
  die "helm install failed: $(tail -1 "$E2E_RUN/helm-install.err")"
fi
grep -v '^$' "$E2E_RUN/helm-install.err" >&2 || true
replicas=$(k -n "$NAMESPACE" get statefulset "$RELEASE" -o jsonpath='{.spec.replicas}')
deadline=$(( $(date +%s) + ${PASTRY_E2E_READY_TIMEOUT:-300} ))
while :; do
  ready=$(k -n "$NAMESPACE" get statefulset "$RELEASE" -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)
  [[ ${ready:-0} == "$replicas" ]] && break
  if (( $(date +%s) >= deadline )); then
    k -n "$NAMESPACE" get pods -o wide >&2 || true
    for p in $(k -n "$NAMESPACE" get pods -o name 2>/dev/null); do
      if [[ $(k -n "$NAMESPACE" get "$p" -o jsonpath='{.status.containerStatuses[*].ready}') != *false* ]]; then continue; fi
      k -n "$NAMESPACE" describe "$p" | tail -n 15 >&2 || true
      k -n "$NAMESPACE" logs "$p" --all-containers --tail=10 >&2 || true
      break
    done
    die "only ${ready:-0} of $replicas pods Ready after ${PASTRY_E2E_READY_TIMEOUT:-300} s"
  fi
  sleep 2
done
log "all $replicas pods Ready $(( $(date +%s) - t_install )) s after helm install"
k -n "$NAMESPACE" get pods -o wide >&2

guard_check || die "the network guard is no longer first: traffic could leave the machine"
phase "put/get through the client Service"
svc_ip=$(k -n "$NAMESPACE" get service "$RELEASE" -o jsonpath='{.spec.clusterIP}')
svc_port=$(k -n "$NAMESPACE" get service "$RELEASE" -o jsonpath='{.spec.ports[?(@.name=="grpc")].port}')
[[ $svc_ip == 10.96.* ]] || die "client Service $RELEASE has cluster IP '$svc_ip', expected one in $SERVICE_CIDR"
target="$svc_ip:$svc_port"
value="e2e-$(date +%s)-$RANDOM"
ok=0
for _ in $(seq 1 20); do
  if timeout 30 "${CLI[@]}" put e2e-object "$value" --target "$target" >"$E2E_RUN/put.out" 2>&1; then ok=1; break; fi
  sleep 3
done
((ok)) || { cat "$E2E_RUN/put.out" >&2; die "put through $target failed 20 times"; }
log "put e2e-object through $target: $(tr '\n' ' ' <"$E2E_RUN/put.out")"
got=$(timeout 30 "${CLI[@]}" get e2e-object --target "$target") || die "get through $target failed"
[[ $got == "$value" ]] || die "get through $target returned '$got', expected '$value'"
log "get e2e-object through $target: $got (matches)"

phase "helm test"
# The test pod must outlive its success for --logs to read it (hook-delete-policy).
"$HELM" test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout 3m >"$E2E_RUN/helm-test.out" 2>&1 || { cat "$E2E_RUN/helm-test.out" >&2; die "helm test failed"; }
grep -q "Phase:.*Succeeded" "$E2E_RUN/helm-test.out" || { cat "$E2E_RUN/helm-test.out" >&2; die "helm test did not succeed"; }
log "helm test: $(grep -c . "$E2E_RUN/helm-test.out") lines, Succeeded, logs read"
phase ""
