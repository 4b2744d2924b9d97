#!/usr/bin/env bash
# Checks on the release install.sh made, each printing what it measured:
#   - a put and a get from a client pod, through the client Service's DNS name;
#   - the Prometheus endpoint of every pod, scraped through its pod IP;
#   - the rendered chart against a namespace enforcing the `restricted` Pod Security Standard
#     (server-side dry run: no warning, nothing rejected);
#   - scale 5 -> 3 -> 6 -> 3 with helm upgrade: no pod restarted on the way up, and every
#     object written before a scale-down readable after it.
#
#   bash test/e2e/cluster/checks.sh            # RELEASE=pastry NAMESPACE=pastry
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

RELEASE=${RELEASE:-pastry}
NAMESPACE=${NAMESPACE:-pastry}
OBJECTS=${PASTRY_E2E_OBJECTS:-60}
[[ -e $E2E_RUN/up.done ]] || die "no cluster: run bash $HERE/up.sh first"
export KUBECONFIG=$KUBECONFIG_FILE
k() { kubectl --request-timeout=30s "$@"; }
cd "$E2E_REPO_ROOT"
HELM=$(bash test/setup/ensure-helm.sh)
read -r -a IMAGE_SET <"$E2E_CACHE/images/helm-set"
svc_ip=$(k -n "$NAMESPACE" get service "$RELEASE" -o jsonpath='{.spec.clusterIP}')
svc_port=$(k -n "$NAMESPACE" get service "$RELEASE" -o jsonpath='{.spec.ports[?(@.name=="grpc")].port}')
target="$svc_ip:$svc_port"
image=$(k -n "$NAMESPACE" get statefulset "$RELEASE" -o jsonpath='{.spec.template.spec.containers[?(@.name=="pastry")].image}')
[[ -n $image ]] || image=$(k -n "$NAMESPACE" get statefulset "$RELEASE" -o jsonpath='{.spec.template.spec.containers[0].image}')

# ready_count: pods of the StatefulSet Ready now.
ready_count() { k -n "$NAMESPACE" get statefulset "$RELEASE" -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true; }
# wait_scale N SECONDS: N pods, all Ready, and no more pods of the release left.
wait_scale() {
  local n=$1 limit=$2 deadline=$(( $(date +%s) + $2 ))
  while :; do
    local ready pods
    ready=$(ready_count)
    pods=$(k -n "$NAMESPACE" get pods --no-headers 2>/dev/null | grep -c "^$RELEASE-[0-9]" || true)
    [[ ${ready:-0} == "$n" && $pods == "$n" ]] && return 0
    if (( $(date +%s) >= deadline )); then
      k -n "$NAMESPACE" get pods -o wide >&2 || true
      die "scale to $n: ${ready:-0} Ready, $pods pods after $limit s"
    fi
    sleep 2
  done
}
scale() {
  "$HELM" upgrade "$RELEASE" charts/pastry --namespace "$NAMESPACE" -f k8s/values/kind.yaml "${IMAGE_SET[@]}" \
    --set replicaCount="$1" --timeout 5m >/dev/null 2>"$E2E_RUN/helm-upgrade.err" || { cat "$E2E_RUN/helm-upgrade.err" >&2; die "helm upgrade to $1 failed"; }
}
# restarts: "name uid restarts" of every pod of the StatefulSet.
restarts() {
  k -n "$NAMESPACE" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {range .status.containerStatuses[*]}{.restartCount},{end}{"\n"}{end}' | grep "^$RELEASE-[0-9]" | sort
}
# objects put|read PREFIX: OBJECTS objects through the client Service in one process, each
# tried up to 5 times (a read may meet UNAVAILABLE while a departed pod's replicas are
# replaced, never a wrong value); fails naming what did not work.
objects() {
  node -e '
    const { PastryClient } = require(process.argv[1]);
    const [op, prefix, count, target] = process.argv.slice(2);
    const c = new PastryClient(target, 15000);
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      const bad = [];
      for (let i = 1; i <= Number(count); i++) {
        const name = `${prefix}-${i}`, value = `value-${name}`;
        let ok = false, last = "";
        for (let a = 0; a < 5 && !ok; a++) {
          try {
            if (op === "put") { await c.put(name, Buffer.from(value)); ok = true; }
            else { const got = (await c.get(name)).value.toString(); ok = got === value; last = `read "${got}"`; if (!ok) break; }
          } catch (e) { last = String(e.message || e); await sleep(1000); }
        }
        if (!ok) bad.push(`${name}: ${last}`);
      }
      c.close();
      if (bad.length > 0) { console.error(bad.slice(0, 5).join("\n")); process.exit(1); }
    })();
  ' "$E2E_REPO_ROOT/dist/services/cli/src/client.js" "$1" "$2" "$OBJECTS" "$target" || die "$1 of $2-*: some of $OBJECTS objects failed"
  log "$1 $2-1..$OBJECTS through $target: all $OBJECTS"
}
put_all() { objects put "$1"; }
read_all() { objects read "$1"; }

phase "put/get from a client pod"
value="from-a-pod-$RANDOM"
k -n "$NAMESPACE" delete pod e2e-client --ignore-not-found --wait=true >/dev/null
k -n "$NAMESPACE" run e2e-client --image="$image" --image-pull-policy=Never --restart=Never \
  --overrides='{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":1000,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"e2e-client","image":"'"$image"'","imagePullPolicy":"Never","command":["sh","-c","pastry put from-pod '"$value"' --target '"$RELEASE"':'"$svc_port"' && pastry get from-pod --target '"$RELEASE.$NAMESPACE.svc.cluster.local"':'"$svc_port"'"],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}' >/dev/null
deadline=$(( $(date +%s) + 120 ))
while :; do
  phase_now=$(k -n "$NAMESPACE" get pod e2e-client -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [[ $phase_now == Succeeded || $phase_now == Failed ]] && break
  (( $(date +%s) < deadline )) || die "client pod still $phase_now after 120 s"
  sleep 2
done
out=$(k -n "$NAMESPACE" logs e2e-client 2>&1 || true)
k -n "$NAMESPACE" delete pod e2e-client --wait=false >/dev/null
[[ $phase_now == Succeeded && $(tail -1 <<<"$out") == "$value" ]] || die "client pod: $phase_now: $out"
log "client pod: put and got '$value' through $RELEASE:$svc_port and its cluster DNS name"

phase "metrics through every pod IP"
for ip in $(k -n "$NAMESPACE" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}' | grep "^$RELEASE-[0-9]" | cut -d' ' -f2); do
  body=$(curl -sf --max-time 10 "http://$ip:9464/metrics") || die "no metrics at $ip:9464"
  grep -q '^pastry_node_ready 1' <<<"$body" || die "$ip:9464: pastry_node_ready is not 1"
  log "metrics $ip:9464: $(grep -c '^pastry_' <<<"$body") pastry_ series, ready"
done

phase "restricted Pod Security Standard"
k delete namespace pss-check --ignore-not-found --wait=true >/dev/null
k create namespace pss-check >/dev/null
k label namespace pss-check pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
# The objects of an install (not the test hook).
"$HELM" template "$RELEASE" charts/pastry --namespace pss-check --skip-tests -f k8s/values/kind.yaml "${IMAGE_SET[@]}" >"$E2E_RUN/pss.yaml"
if ! k apply --dry-run=server -n pss-check -f "$E2E_RUN/pss.yaml" >"$E2E_RUN/pss.out" 2>&1; then
  cat "$E2E_RUN/pss.out" >&2; k delete namespace pss-check --wait=false >/dev/null; die "the chart is rejected under the restricted Pod Security Standard"
fi
k delete namespace pss-check --wait=false >/dev/null
if grep -qi "warning" "$E2E_RUN/pss.out"; then cat "$E2E_RUN/pss.out" >&2; die "the chart draws Pod Security warnings under restricted"; fi
log "restricted Pod Security Standard: $(grep -c . "$E2E_RUN/pss.out") objects accepted, no warning"

phase "scale 5 -> 3 -> 6 -> 3"
put_all before3
t0=$(date +%s); scale 3; wait_scale 3 300; log "scaled to 3 in $(( $(date +%s) - t0 )) s"
read_all before3
before=$(restarts)
put_all before6
t0=$(date +%s); scale 6; wait_scale 6 300; log "scaled to 6 in $(( $(date +%s) - t0 )) s"
after=$(restarts)
# The three pods that were there keep their uid and restart count.
while read -r name uid count; do
  grep -q "^$name $uid $count\$" <<<"$after" || die "$name restarted or was replaced on the way up: before '$name $uid $count', after '$(grep "^$name " <<<"$after" || true)'"
done <<<"$before"
read_all before6
put_all before-down
t0=$(date +%s); scale 3; wait_scale 3 300; log "scaled back to 3 in $(( $(date +%s) - t0 )) s"
read_all before3
read_all before6
read_all before-down
phase ""
