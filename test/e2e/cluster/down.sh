#!/usr/bin/env bash
# Tears down what up.sh made: stops every process it started (and every container),
# removes its iptables rules and chains, bridges, mounts, network namespaces, cgroups and
# its run directory, and restores the sysctls it changed. Safe to run any number of times,
# also after a failed or interrupted up.sh. The cache (built binaries, images) is kept.
#
#   bash test/e2e/cluster/down.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"
[[ $(id -u) == 0 ]] || die "down.sh must run as root"

PIDS="$E2E_RUN/pids"
problems=0
warn() { log "warning: $*"; problems=$((problems + 1)); }

# stop NAME...: SIGTERM, then SIGKILL after a bounded wait. Only pids recorded by up.sh,
# and only if that pid still runs the program it was started as.
stop() {
  local name pid deadline
  for name in "$@"; do
    [[ -s $PIDS/$name.pid ]] || continue
    pid=$(cat "$PIDS/$name.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      local exe; exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
      case "$(basename "${exe:-x}")" in
        "$name" | etcd | containerd | bash | env) ;;
        *) log "pid $pid of $name now runs $exe: not touching it"; rm -f "$PIDS/$name.pid"; continue ;;
      esac
      kill -TERM "$pid" 2>/dev/null || true
      deadline=$(( $(date +%s) + 20 ))
      while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then log "$name ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
    fi
    rm -f "$PIDS/$name.pid"
  done
}

phase "stop kubernetes"
# The kubelet first, so that nothing restarts containers while they are stopped.
stop kubelet kube-proxy coredns kube-scheduler kube-controller-manager

phase "stop containers"
# Every container of containerd's k8s.io namespace, then every process still in a pod cgroup.
if [[ -S $CONTAINERD_SOCK ]]; then
  ctr_e2e() { timeout 30 ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
  for id in $(ctr_e2e tasks ls -q 2>/dev/null || true); do
    ctr_e2e tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $(ctr_e2e tasks ls -q 2>/dev/null || true); do
    ctr_e2e tasks delete -f "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_e2e containers ls -q 2>/dev/null || true); do
    ctr_e2e containers delete "$id" >/dev/null 2>&1 || true
  done
fi
pod_cgroup_pids() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    if [[ -d $d ]]; then find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true; fi
  done | sort -u
}
for _ in 1 2 3 4 5; do
  pids=$(pod_cgroup_pids)
  [[ -z $pids ]] && break
  kill -KILL $pids 2>/dev/null || true
  sleep 1
done
[[ -z $(pod_cgroup_pids) ]] || warn "processes still in kubepods cgroups: $(pod_cgroup_pids | tr '\n' ' ')"
# Shims of our containerd (they outlive it): found by our socket path in their arguments.
shim_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/exe" 2>/dev/null) == */containerd-shim* ]] || continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -F -- "$CONTAINERD_SOCK" >/dev/null; then echo "${p#/proc/}"; fi
  done
}

phase "stop containerd, control plane"
stop containerd
for _ in 1 2 3; do
  s=$(shim_pids); [[ -z $s ]] && break
  kill -KILL $s 2>/dev/null || true; sleep 1
done
[[ -z $(shim_pids) ]] || warn "containerd shims still running: $(shim_pids | tr '\n' ' ')"
stop kube-apiserver etcd
# Anything else up.sh recorded (a future component).
for f in "$PIDS"/*.pid; do if [[ -e $f ]]; then stop "$(basename "$f" .pid)"; fi; done

phase "iptables"
if [[ -x $E2E_BIN/kube-proxy ]]; then
  timeout 60 "$E2E_BIN/kube-proxy" --cleanup --v=0 >/dev/null 2>&1 || true
fi
# Remove every rule that jumps to one of our chains (KUBE-*, CNI-*, PASTRY-E2E-*), then the chains.
ours='^(KUBE-|CNI-|PASTRY-E2E-)'
for ipt in iptables ip6tables; do
  command -v $ipt >/dev/null || continue
  for table in filter nat mangle raw; do
    rules=$($ipt -w -t $table -S 2>/dev/null) || continue
    # rules in built-in chains that jump to ours
    while read -r rule; do
      [[ -n $rule ]] || continue
      eval "$ipt -w -t $table ${rule/-A /-D }" 2>/dev/null || true
    done < <(grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ' <<<"$rules" | grep -E -- "-j (KUBE-|CNI-|PASTRY-E2E-)" || true)
    chains=$(sed -n 's/^-N //p' <<<"$rules" | grep -E "$ours" || true)
    for c in $chains; do $ipt -w -t $table -F "$c" 2>/dev/null || true; done
    for c in $chains; do $ipt -w -t $table -X "$c" 2>/dev/null || warn "could not delete $ipt -t $table chain $c"; done
  done
done

# Connection tracking entries of pod and service addresses.
if command -v conntrack >/dev/null; then
  for sel in "-s $POD_CIDR" "-d $POD_CIDR" "-d $SERVICE_CIDR"; do
    # shellcheck disable=SC2086
    conntrack -D $sel >/dev/null 2>&1 || true
  done
fi

phase "mounts, netns, links"
umount_below "$E2E_RUN"
# Network namespaces containerd made under its state dir are unmounted above; veths go with them.
for l in $(ip -o link show master "$POD_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$l" 2>/dev/null || true
done
for l in "$POD_BRIDGE" "$NODE_IF"; do
  if ip link show "$l" >/dev/null 2>&1; then ip link del "$l" || warn "could not delete link $l"; fi
done

phase "cgroups, sysctls, files"
for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d $d ]] || continue
  find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  if [[ -d $d ]]; then warn "cgroup $d still exists"; fi
done
if [[ -r $E2E_RUN/state/sysctls ]]; then
  while read -r key value; do
    if [[ -w /proc/sys/$key && $(cat "/proc/sys/$key") != "$value" ]]; then
      echo "$value" >"/proc/sys/$key" || warn "could not restore $key=$value"
    fi
  done <"$E2E_RUN/state/sysctls"
fi
if [[ -r $E2E_RUN/state/created-paths ]]; then
  while read -r p; do
    [[ -n $p && -e $p ]] || continue
    umount_below "$p"
    rm -rf --one-file-system "$p" || warn "could not remove $p"
  done <"$E2E_RUN/state/created-paths"
fi
if [[ -d $E2E_RUN ]]; then
  umount_below "$E2E_RUN"
  rm -rf --one-file-system "$E2E_RUN" || warn "could not remove $E2E_RUN"
fi
umount_below "$BUILDAH_ROOT"
rm -f "$E2E_CACHE/kubeconfig-path"

phase ""
if ((problems)); then die "down.sh finished with $problems problem(s) above"; fi
log "down: nothing of the e2e cluster is left (cache kept in $E2E_CACHE)"
