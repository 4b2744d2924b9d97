# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for the e2e cluster scripts (sourced, not run).
# Everything lives outside the repository:
#   PASTRY_E2E_CACHE  built binaries, root filesystems, image tarballs (kept between runs)
#   PASTRY_E2E_RUN    state of one running cluster (removed by down.sh)

E2E_CACHE="${PASTRY_E2E_CACHE:-/var/cache/pastry-e2e}"
E2E_RUN="${PASTRY_E2E_RUN:-/var/lib/pastry-e2e}"
E2E_BIN="$E2E_CACHE/bin"
E2E_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"

K8S_VERSION="${PASTRY_E2E_K8S_VERSION:-v1.34.4}"
COREDNS_VERSION="${PASTRY_E2E_COREDNS_VERSION:-v1.12.4}"

# Addresses: all on interfaces with no ports, never routed out of the machine.
NODE_IF=pastrye2e0          # a bridge with no ports, holding the node IP
NODE_IP=10.99.0.1
POD_BRIDGE=cni0
POD_CIDR=10.244.0.0/24
POD_GW=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
KUBE_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
GUARD_CHAIN=PASTRY-E2E-GUARD
NODE_NAME=pastry-e2e

# Ports: loopback/node-IP only.
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
APISERVER_PORT=6443

CONTAINERD_SOCK="$E2E_RUN/containerd/containerd.sock"
KUBECONFIG_FILE="$E2E_RUN/kubeconfig"
PAUSE_IMAGE="localhost/pastry-e2e/pause:3.10"

K8S_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

E2E_T0=${E2E_T0:-$(date +%s)}
E2E_PHASE_T0=$E2E_T0
E2E_PHASE_NAME=""

log() { printf '[e2e %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# phase NAME: ends the current phase (printing its elapsed seconds) and starts NAME.
phase() {
  local now; now=$(date +%s)
  if [[ -n "$E2E_PHASE_NAME" ]]; then
    log "phase '$E2E_PHASE_NAME' done in $((now - E2E_PHASE_T0)) s (total $((now - E2E_T0)) s)"
    printf 'PHASE %-28s %5d s\n' "$E2E_PHASE_NAME" "$((now - E2E_PHASE_T0))" >>"${E2E_PHASE_LOG:-/dev/null}"
  fi
  E2E_PHASE_NAME="$1"; E2E_PHASE_T0=$now
  if [[ -n "$1" ]]; then log "phase '$1' ..."; fi
  return 0
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every second until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then
      die "timed out after ${limit}s waiting for: $what"
    fi
    sleep 1
  done
}

# apt_install PKG...: installs missing Debian packages, waiting for the dpkg lock.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  # Keep package scripts from starting services (no systemd here; we run our own daemons).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}"; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q update
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${missing[@]}" || {
      if ((created_policy)); then rm -f "$policy"; fi; die "apt-get install ${missing[*]} failed"; }
  fi
  if ((created_policy)); then rm -f "$policy"; fi
  return 0
}

kubectl_e2e() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

# buildah with its storage in the cache (image layers survive between runs).
BUILDAH_ROOT="$E2E_CACHE/buildah/storage"
BUILDAH_RUNROOT="$E2E_CACHE/buildah/run"
# Its network configuration lives there too (buildah would otherwise create /etc/cni).
bah() {
  if [[ ! -s $E2E_CACHE/buildah/containers.conf ]]; then
    mkdir -p "$E2E_CACHE/buildah/cni"
    printf '[network]\nnetwork_config_dir = "%s"\ncni_plugin_dirs = ["/usr/lib/cni"]\n' \
      "$E2E_CACHE/buildah/cni" >"$E2E_CACHE/buildah/containers.conf"
  fi
  CONTAINERS_CONF="$E2E_CACHE/buildah/containers.conf" \
    buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" --storage-driver overlay "$@"
}

# Unmounts every mount point at or below $1 (deepest first).
umount_below() {
  local base=$1 m
  [[ -e $base ]] || return 0
  base=$(readlink -f "$base")
  for _ in 1 2 3; do
    local mounts
    mounts=$(awk -v b="$base" '$5 == b || index($5, b "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r -u)
    [[ -z $mounts ]] && return 0
    for m in $mounts; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

# The pause image (pod sandbox): a static C program in a scratch image, as a docker-archive.
PAUSE_TAR="$E2E_CACHE/images/pause.tar"
build_pause_image() {
  local src="$E2E_REPO_ROOT/test/e2e/cluster/pause/pause.c"
  if [[ -s $PAUSE_TAR && $PAUSE_TAR -nt $src ]]; then return 0; fi
  command -v gcc >/dev/null || apt_install gcc libc6-dev
  mkdir -p "$E2E_CACHE/images" "$E2E_CACHE/src/pause"
  gcc -static -O2 -s -o "$E2E_CACHE/src/pause/pause" "$src"
  local c
  c=$(bah from scratch)
  bah copy "$c" "$E2E_CACHE/src/pause/pause" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  bah commit --rm -q "$c" "$PAUSE_IMAGE" >/dev/null
  rm -f "$PAUSE_TAR.new"
  bah push -q "$PAUSE_IMAGE" "docker-archive:$PAUSE_TAR.new:$PAUSE_IMAGE"
  mv -f "$PAUSE_TAR.new" "$PAUSE_TAR"
  bah rmi "$PAUSE_IMAGE" >/dev/null 2>&1 || true
  umount_below "$BUILDAH_ROOT"
}

# guard_check: fails unless the guard chains are the first rules of FORWARD and INPUT.
guard_check() {
  iptables -w -S FORWARD | sed -n 2p | grep -q -- "-j $GUARD_CHAIN\$" || { log "guard chain is not first in FORWARD: $(iptables -w -S FORWARD | sed -n 2p)"; return 1; }
  iptables -w -S INPUT | sed -n 2p | grep -q -- "-j $GUARD_CHAIN-IN\$" || { log "guard chain is not first in INPUT: $(iptables -w -S INPUT | sed -n 2p)"; return 1; }
}
