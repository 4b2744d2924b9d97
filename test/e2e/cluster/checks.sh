#!/usr/bin/env bash
# Checks on the release install.sh made, each printing what it measured:
#   - a put and a get from a client pod, through the client Service's DNS name;
#   - a file put from the host and fetched in a client pod, byte-identical, a compute job over
#     its chunks through the Service (their SHA-256), then removed;
#   - messaging: a subscriber in a client pod gets exactly the N messages published from the
#     host, sequences 1..N in order with their payloads, and a message sent to an inbox;
#   - the Prometheus endpoint of every pod, scraped through its pod IP;
#   - the rendered chart against a namespace enforcing the `restricted` Pod Security Standard
#     (server-side dry run: no warning, nothing rejected);
#   - make chaos-k8s (a pod force-deleted every 5 s under a workload) for CHAOS_S seconds:
#     nothing lost or unexpected, availability >= 99.9 %;
#   - one pod's Redis sidecar killed: the pod NotReady and out of the client Service, the
#     ring serving, then the pod Ready again with what was written meanwhile on it;
#   - kubectl rollout restart under a workload: nothing lost, availability >= 99.9 %;
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
CHAOS_S=${PASTRY_E2E_CHAOS_S:-60}
K=3   # config.replicas of the chart
[[ -e $E2E_RUN/up.done ]] || die "no cluster: run bash $HERE/up.sh first"
# Background workloads never outlive the checks, even when one fails.
BG_PIDS=()
trap 'for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done' EXIT
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
# objects put|read PREFIX: OBJECTS objects through the client Service (objects.js); fails
# naming what did not work.
objects() {
  node "$HERE/objects.js" "$1" "$2" "$OBJECTS" "$target" || die "$1 of $2-*: some of $OBJECTS objects failed"
  log "$1 $2-1..$OBJECTS through $target: all $OBJECTS"
}
# pod_addresses: NAME=IP:PORT of every pod of the StatefulSet with an IP.
pod_addresses() {
  k -n "$NAMESPACE" get pods -o jsonpath='{range .items[*]}{.metadata.name}={.status.podIP}{"\n"}{end}' | grep "^$RELEASE-[0-9]*=[0-9]" | sed "s/\$/:$svc_port/"
}
# replicated PREFIX SECONDS: every object PREFIX-* on each of its k closest pods within SECONDS.
replicated() {
  local out
  # shellcheck disable=SC2046
  out=$(node "$HERE/objects.js" replicated "$1" "$OBJECTS" "$K" "$2" $(pod_addresses)) || die "$1-*: not back on all $K replicas"
  log "$1-*: $out"
}
put_all() { objects put "$1"; }
read_all() { objects read "$1"; }

# client_pod_start NAME COMMAND: starts COMMAND (sh -c) in a pod of the node image, under the
# restricted Pod Security Standard.
client_pod_start() {
  local name=$1 command=$2
  k -n "$NAMESPACE" delete pod "$name" --ignore-not-found --wait=true >/dev/null
  local spec
  spec=$(node -e 'const [name, image, command] = process.argv.slice(1); console.log(JSON.stringify({ spec: { securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } }, containers: [{ name, image, imagePullPolicy: "Never", command: ["sh", "-c", command], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }] } }))' "$name" "$image" "$command")
  k -n "$NAMESPACE" run "$name" --image="$image" --image-pull-policy=Never --restart=Never --overrides="$spec" >/dev/null
}
# client_pod_wait NAME SECONDS: waits until the pod ends, then sets client_phase and
# client_out (its output) and deletes it. After SECONDS: the same with client_phase
# "<phase>, not done after SECONDS s", and returns 1.
client_pod_wait() {
  local name=$1 limit=$2 rc=0
  local deadline=$(( $(date +%s) + limit ))
  while :; do
    client_phase=$(k -n "$NAMESPACE" get pod "$name" -o jsonpath='{.status.phase}' 2>/dev/null || true)
    [[ $client_phase == Succeeded || $client_phase == Failed ]] && break
    if (( $(date +%s) >= deadline )); then client_phase="$client_phase, not done after $limit s"; rc=1; break; fi
    sleep 1
  done
  client_out=$(k -n "$NAMESPACE" logs "$name" 2>&1 || true)
  k -n "$NAMESPACE" delete pod "$name" --wait=false >/dev/null
  return $rc
}
# client_pod NAME SECONDS COMMAND: client_pod_start, then client_pod_wait; fails after SECONDS.
client_pod() {
  client_pod_start "$1" "$3"
  client_pod_wait "$1" "$2" || die "client pod $1: $client_phase: $client_out"
}
# pods_logs: the last lines of every pod's node container, for a failure report.
pods_logs() {
  local p
  for p in $(k -n "$NAMESPACE" get pods -o name 2>/dev/null | grep "^pod/$RELEASE-[0-9]"); do
    echo "--- $p (last 30 lines)"
    k -n "$NAMESPACE" logs "$p" -c pastry --tail=30 2>&1 || true
  done
}

phase "put/get from a client pod"
value="from-a-pod-$RANDOM"
client_pod e2e-client 120 "pastry put from-pod $value --target $RELEASE:$svc_port && pastry get from-pod --target $RELEASE.$NAMESPACE.svc.cluster.local:$svc_port"
[[ $client_phase == Succeeded && $(tail -1 <<<"$client_out") == "$value" ]] || die "client pod: $client_phase: $client_out"
log "client pod: put and got '$value' through $RELEASE:$svc_port and its cluster DNS name"

phase "a file through the client Service"
# Put from the host through the Service's cluster IP, get from a client pod through its DNS
# name, compared byte for byte by SHA-256; then removed, so later checks move less data.
FILE_MIB=${PASTRY_E2E_FILE_MIB:-48}
file="$E2E_RUN/e2e-file.bin"
head -c $(( FILE_MIB * 1024 * 1024 )) /dev/urandom >"$file"
want=$(sha256sum "$file" | cut -d' ' -f1)
put_json=$(node dist/services/cli/src/main.js file put "$file" --json --target "$target") || die "file put of $FILE_MIB MiB through $target failed"
guid=$(node -e 'console.log(JSON.parse(process.argv[1]).guid)' "$put_json")
log "file put through $target: $(node -e 'const r=JSON.parse(process.argv[1]); console.log(`${r.chunks} chunks, ${(r.bytesPerSecond/1048576).toFixed(1)} MiB/s`)' "$put_json")"
client_pod e2e-files 180 "pastry file get $guid -o - --target $RELEASE.$NAMESPACE.svc.cluster.local:$svc_port | sha256sum"
[[ $client_phase == Succeeded && $(tail -1 <<<"$client_out" | cut -d' ' -f1) == "$want" ]] || die "file get in a client pod: $client_phase: $client_out (want $want)"
log "file get in a client pod through $RELEASE.$NAMESPACE.svc.cluster.local: $FILE_MIB MiB, SHA-256 identical"
# A compute job over the same file through the Service: one unit per chunk, each on a pod
# that holds the chunk; the SHA-256 of every chunk, in file order, as computed here.
want_hashes=$(node -e 'const fs = require("fs"), c = require("crypto"); const b = fs.readFileSync(process.argv[1]); const out = []; for (let i = 0; i < b.length; i += 262144) out.push(c.createHash("sha256").update(b.subarray(i, i + 262144)).digest("hex")); console.log(out.join("\n"))' "$file")
got_hashes=$(node dist/services/cli/src/main.js compute run examples/compute/build/sha256.wasm --input "$guid" --target "$target" 2>"$E2E_RUN/compute.err") || die "compute run through $target failed: $(cat "$E2E_RUN/compute.err")"
[[ $got_hashes == "$want_hashes" ]] || die "compute run through $target: the chunk hashes differ from the file's"
log "compute run through $target: SHA-256 of $(wc -l <<<"$got_hashes") chunks, each on a pod holding it, equal to the file's ($(tail -1 "$E2E_RUN/compute.err"))"
node dist/services/cli/src/main.js file rm "$guid" --target "$target" >/dev/null || die "file rm $guid failed"
rm -f "$file"
log "file rm: removed"

phase "messaging through the client Service"
# A subscriber in a client pod through the Service's DNS name, `pastry sub TOPIC --from 1
# --count N --json`, with `pastry sub --inbox NAME --from 1 --count 1 --json` beside it.
# From the host through the cluster IP, `pastry pub` of N messages to the new topic: the
# first half before the pod exists (it reads them from the retained window), the rest once it
# has printed those (so after it subscribed: live through the topic's tree); then `pastry
# send` to the inbox. The subscriber must print exactly sequences 1..N, in order, with the
# payloads and ids the publishes were answered with, no gap; the inbox the sent message.
MSG_N=${PASTRY_E2E_MESSAGES:-12}
run_id="$(date +%s)-$RANDOM"
topic="e2e/messages-$run_id"
inbox="e2e-inbox-$run_id"
publisher="e2e-host"
pod_target="$RELEASE.$NAMESPACE.svc.cluster.local:$svc_port"
published="$E2E_RUN/messages-published.tsv"
sent="$E2E_RUN/messages-sent.tsv"
: >"$published"
sub_running=0
# messaging_failed WHAT: prints what the subscriber printed (ending its pod) and the last lines
# of every node's log, then fails.
messaging_failed() {
  if ((sub_running)); then client_pod_wait e2e-messages 0 || true; sub_running=0; fi
  echo "--- what the subscriber in client pod e2e-messages printed ($client_phase):" >&2
  echo "$client_out" >&2
  pods_logs >&2
  die "messaging: $1"
}
# publish I: `pastry pub` of message I from the host, its JSON answer and payload appended to $published.
publish() {
  local payload="message $1 of $MSG_N ($run_id): héllo wörld ✓" out
  out=$(timeout 30 node dist/services/cli/src/main.js pub "$topic" "$payload" --name "$publisher" --json --target "$target" 2>"$E2E_RUN/pub.err") \
    || messaging_failed "pub of message $1 to $topic through $target failed: $out $(cat "$E2E_RUN/pub.err")"
  printf '%s\t%s\n' "$out" "$payload" >>"$published"
}
node dist/services/cli/src/main.js --help | grep -q '^  pastry sub ' || die "the CLI in dist/ has no pastry pub/sub/send: make build"
client_phase="not started"; client_out=""
half=$(( MSG_N / 2 ))
t0=$(date +%s)
for i in $(seq 1 "$half"); do publish "$i"; done
client_pod_start e2e-messages "timeout 60 pastry sub --inbox $inbox --from 1 --count 1 --json --target $pod_target >/tmp/inbox.out 2>&1 & i=\$!; \
timeout 60 pastry sub $topic --from 1 --count $MSG_N --json --target $pod_target; t=\$?; wait \$i; b=\$?; \
echo \"--- inbox $inbox (exit \$b)\"; cat /tmp/inbox.out; echo \"--- exit: topic \$t, inbox \$b\"; [ \$t = 0 ] && [ \$b = 0 ]"
sub_running=1
# The retained half printed: the subscription is on.
deadline=$(( $(date +%s) + 60 ))
until [[ $(k -n "$NAMESPACE" logs e2e-messages 2>/dev/null | grep -c '^{"topic"') -ge $half ]]; do
  if (( $(date +%s) >= deadline )) || [[ $(k -n "$NAMESPACE" get pod e2e-messages -o jsonpath='{.status.phase}' 2>/dev/null) == Failed ]]; then
    messaging_failed "the subscriber did not print the $half retained messages of $topic within 60 s, or its pod failed"
  fi
  sleep 1
done
log "subscriber in a client pod through $pod_target: the $half retained messages after $(( $(date +%s) - t0 )) s"
for i in $(seq $(( half + 1 )) "$MSG_N"); do publish "$i"; done
payload="direct to $inbox ($run_id) ✉"
out=$(timeout 30 node dist/services/cli/src/main.js send "$inbox" "$payload" --name "$publisher" --json --target "$target" 2>"$E2E_RUN/pub.err") \
  || messaging_failed "send to $inbox through $target failed: $out $(cat "$E2E_RUN/pub.err")"
printf '%s\t%s\n' "$out" "$payload" >"$sent"
sub_running=0
client_pod_wait e2e-messages 60 || messaging_failed "the subscriber did not end within 60 s of the last message"
printf '%s\n' "$client_out" >"$E2E_RUN/messages-received.log"
if ! node "$HERE/messages.js" check "$topic" "$inbox" "$publisher" "$published" "$sent" "$E2E_RUN/messages-received.log" >"$E2E_RUN/messages.check" 2>&1; then
  cat "$E2E_RUN/messages.check" >&2
  messaging_failed "the subscriber did not get exactly what was published and sent"
fi
[[ $client_phase == Succeeded ]] || messaging_failed "the client pod ended $client_phase"
log "messaging: $(cat "$E2E_RUN/messages.check") ($(( $(date +%s) - t0 )) s)"

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

# chaos_report FILE WHAT: the JSON report of `pastry chaos`; fails unless nothing was lost or
# unexpected and availability was at least 99.9 %.
chaos_report() {
  local rc=0
  # (|| rc=: under set -e a failing report would otherwise end the script before it is printed)
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const rec = r.recoverySeconds.filter((x) => x !== null).sort((a, b) => a - b);
    const med = rec.length ? rec[Math.floor(rec.length / 2)].toFixed(1) + " s" : "-";
    console.log(`acknowledged ${r.acknowledged}, lost ${r.lost}, unexpected ${r.unexpected}, availability ${(100 * r.availability).toFixed(3)}% ` +
      `(${r.operations.ok} ok, ${r.operations.failed} failed, ${r.operations.retries} retries), kills ${r.kills}` +
      (r.kills === 0 ? "" : `, recovery median ${med} (${r.recoverySeconds.filter((x) => x === null).length} never), ` +
        `leaf sets whole ${r.leafSetsCorrectAfterS ?? "never"} s and k replicas ${r.fullyReplicatedAfterS ?? "never"} s after the last kill`));
    if (r.lost !== 0 || r.unexpected !== 0 || r.availability < 0.999 || r.acknowledged === 0) {
      // Each failed operation with its attempts (entry, seconds, error), and when the kills came.
      console.log(`kills at ${JSON.stringify(r.killedAtS)} s: ${JSON.stringify(r.killed)}`);
      for (const f of r.failures) {
        const tries = f.attempts.map((a) => `${a.entry} ${a.startS}-${a.endS ?? "…"} s ${a.error ? a.error.slice(0, 90) : "no answer"}`);
        console.log(`failed ${f.op} ${f.key} at ${f.atS} s: ${tries.join("; ")}`);
      }
      process.exit(1);
    }
  ' "$1" >"$E2E_RUN/chaos.summary" 2>&1 || rc=$?
  log "$2: $(cat "$E2E_RUN/chaos.summary")"
  if ((rc != 0)); then
    # The run directory goes with the cluster: keep the report for a look afterwards.
    cp "$1" "${TMPDIR:-/tmp}/pastry-e2e-$(basename "$1")" 2>/dev/null && log "report kept in ${TMPDIR:-/tmp}/pastry-e2e-$(basename "$1")"
    die "$2: lost or unexpected objects, or availability under 99.9 %"
  fi
}

phase "chaos: make chaos-k8s, ${CHAOS_S} s"
# The defaults of make chaos-k8s (pastry chaos --killer kubectl: one pod force-deleted every
# 5 s under a workload of writes and reads), for CHAOS_S seconds.
make -s --no-print-directory chaos-k8s RELEASE="$RELEASE" NAMESPACE="$NAMESPACE" CHAOS_ARGS="--duration $CHAOS_S --json" \
  >"$E2E_RUN/chaos.json" 2>"$E2E_RUN/chaos.err" || true
[[ -s $E2E_RUN/chaos.json ]] || { tail -20 "$E2E_RUN/chaos.err" >&2; die "make chaos-k8s printed no report"; }
chaos_report "$E2E_RUN/chaos.json" "chaos, one pod force-deleted every 5 s for $CHAOS_S s"
[[ $(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).kills' "$E2E_RUN/chaos.json") -ge $(( CHAOS_S / 5 - 2 )) ]] || die "chaos: fewer kills than one every 5 s"
# The ring repairs itself after the last kill: exact leaf sets and k replicas of everything
# within the 90 s pastry chaos waits.
[[ $(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).fullyReplicatedAfterS ?? "never"' "$E2E_RUN/chaos.json") != never ]] \
  || die "chaos: the ring was not whole again (leaf sets, k replicas) within 90 s of the last kill"
wait_scale 5 300

phase "Redis sidecar killed in one pod"
victim="$RELEASE-1"
# The Redis sidecar's container: a native sidecar is an init container with restartPolicy Always.
redis_field() {
  k -n "$NAMESPACE" get pod "$victim" -o jsonpath="{.status.initContainerStatuses[?(@.name==\"redis\")].$1}{.status.containerStatuses[?(@.name==\"redis\")].$1}"
}
kill_redis() {
  local id; id=$(redis_field containerID); id=${id#containerd://}
  [[ -n $id ]] && ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
}
pod_ready() { [[ $(k -n "$NAMESPACE" get pod "$victim" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == "$1" ]]; }
# in_service yes|no: whether the victim is a ready endpoint of the client Service.
in_service() {
  local ready
  ready=$(k -n "$NAMESPACE" get endpointslices -l "kubernetes.io/service-name=$RELEASE" \
    -o jsonpath='{range .items[*].endpoints[*]}{.targetRef.name}={.conditions.ready}{"\n"}{end}' | grep -c "^$victim=true$" || true)
  if [[ $1 == yes ]]; then ((ready > 0)); else ((ready == 0)); fi
}
restarts0=$(redis_field restartCount)
t0=$(date +%s)
# Killed again whenever it comes back, until the pod is out of the Service (kubelet restarts
# a killed container at once, so one kill may end before a readiness probe sees it).
until pod_ready False && in_service no; do
  (( $(date +%s) - t0 < 120 )) || die "$victim still Ready or in the client Service 120 s after its Redis was killed"
  kill_redis; sleep 1
done
t_out=$(( $(date +%s) - t0 ))
log "$victim NotReady and out of the client Service ${t_out} s after its Redis was first killed"
objects put redis-down
objects read redis-down
t1=$(date +%s)
wait_for 180 "$victim Ready again" pod_ready True
wait_for 60 "$victim back in the client Service" in_service yes
log "$victim Ready and back in the client Service $(( $(date +%s) - t1 )) s after the last kill (Redis restarts $restarts0 -> $(redis_field restartCount))"
replicated redis-down 120

phase "rollout restart under a workload"
# The workload and loss check of pastry chaos with no kills, stopped by SIGTERM once the
# rollout is done; the StatefulSet replaces the pods one by one, each leaving gracefully.
node dist/services/cli/src/main.js chaos --killer kubectl --release "$RELEASE" --namespace "$NAMESPACE" \
  --kill-count 0 --duration 900 --seed 3 --json >"$E2E_RUN/rollout.json" 2>"$E2E_RUN/rollout.err" &
chaos_pid=$!
BG_PIDS+=("$chaos_pid")
sleep 5
t0=$(date +%s)
k -n "$NAMESPACE" rollout restart statefulset "$RELEASE" >/dev/null
if ! kubectl -n "$NAMESPACE" rollout status statefulset "$RELEASE" --timeout=600s >"$E2E_RUN/rollout-status.out" 2>&1; then
  cat "$E2E_RUN/rollout-status.out" >&2; die "rollout restart did not finish in 600 s"   # the EXIT trap stops the workload
fi
log "rollout restart of $(ready_count) pods done in $(( $(date +%s) - t0 )) s"
sleep 5
kill -TERM "$chaos_pid" 2>/dev/null || true
wait "$chaos_pid" || true
[[ -s $E2E_RUN/rollout.json ]] || { tail -20 "$E2E_RUN/rollout.err" >&2; die "the workload printed no report"; }
chaos_report "$E2E_RUN/rollout.json" "workload across the rollout restart"

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
