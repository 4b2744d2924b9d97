#!/usr/bin/env bash
# Brings up a real single-node Kubernetes on this machine: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, containerd + runc + CNI bridge, kubelet,
# kube-proxy (iptables), CoreDNS (no forward) and hostPath PersistentVolumes behind a
# default StorageClass. No container registry and no container engine are needed.
#
#   bash test/e2e/cluster/up.sh            # then: export KUBECONFIG=$(cat .../kubeconfig-path)
#   bash test/e2e/cluster/down.sh          # removes all of it (also after a failed up)
#
# Every address is on an interface with no ports (node IP 10.99.0.1 on a port-less bridge,
# pods on cni0 10.244.0.0/24, services 10.96.0.0/16); a guard chain first in FORWARD
# drops anything to or from eth0 and anything from the pod range to a non-pod address.
# On failure everything started is torn down (PASTRY_E2E_KEEP_ON_FAILURE=1 keeps it
# for inspection; then run down.sh yourself).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/lib.sh"

[[ $(id -u) == 0 ]] || die "up.sh must run as root (it creates bridges, iptables rules and cgroups)"

on_exit() {
  local rc=$?
  if ((rc != 0)); then
    log "up.sh failed (exit $rc); last lines of the component logs:"
    local f
    for f in "$E2E_RUN"/logs/*.log; do if [[ -s $f ]]; then echo "--- $f" >&2; tail -n 8 "$f" >&2; fi; done
    if [[ ${PASTRY_E2E_KEEP_ON_FAILURE:-0} == 1 ]]; then
      log "PASTRY_E2E_KEEP_ON_FAILURE=1: left running; run: bash $HERE/down.sh"
    else
      log "tearing down what was started (bash $HERE/down.sh)"
      bash "$HERE/down.sh" >&2 || log "down.sh failed too: run it again by hand"
    fi
  fi
}
trap on_exit EXIT
trap "exit 130" INT TERM HUP

PKI="$E2E_RUN/pki"
LOGS="$E2E_RUN/logs"
PIDS="$E2E_RUN/pids"

# ------------------------------------------------------------------------------------------
phase "packages"
apt_install etcd-server containerd runc containernetworking-plugins buildah iptables \
  openssl curl gcc libc6-dev conntrack
for b in etcd containerd runc ctr iptables openssl curl; do command -v $b >/dev/null || die "$b missing after install"; done
CNI_BIN=/usr/lib/cni
[[ -x $CNI_BIN/bridge && -x $CNI_BIN/host-local && -x $CNI_BIN/loopback ]] || die "CNI plugins missing in $CNI_BIN"
[[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] || die "no cgroup hierarchy found"

phase "binaries"
bash "$HERE/build.sh"
for b in "${K8S_BINARIES[@]}" coredns; do [[ -x $E2E_BIN/$b ]] || die "$E2E_BIN/$b missing (build.sh failed?)"; done
build_pause_image

# ------------------------------------------------------------------------------------------
phase "host state"
if [[ -d $E2E_RUN ]] || ip link show "$NODE_IF" >/dev/null 2>&1 || ip link show "$POD_BRIDGE" >/dev/null 2>&1 \
  || iptables -w -S "$GUARD_CHAIN" >/dev/null 2>&1; then
  log "a cluster (or what a failed attempt left) exists: tearing it down first"
  bash "$HERE/down.sh"
fi
mkdir -p "$E2E_RUN" "$PKI" "$LOGS" "$PIDS" "$E2E_RUN/state"
# Remember what to restore and which host paths did not exist before (down.sh removes those).
: >"$E2E_RUN/state/created-paths"
for p in /run/containerd /var/lib/cni /var/lib/kubelet /etc/cni /var/log/containers /var/log/pods /opt/cni /etc/kubernetes; do
  [[ -e $p ]] || echo "$p" >>"$E2E_RUN/state/created-paths"
done
: >"$E2E_RUN/state/sysctls"
for s in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/bridge/bridge-nf-call-ip6tables \
  vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/conf/all/route_localnet; do
  if [[ -r /proc/sys/$s ]]; then echo "$s $(cat /proc/sys/$s)" >>"$E2E_RUN/state/sysctls"; fi
done

phase "network"
ip link show "$NODE_IF" >/dev/null 2>&1 || ip link add "$NODE_IF" type bridge
ip addr replace "$NODE_IP/32" dev "$NODE_IF"
ip link set "$NODE_IF" up
# The guard, in filter FORWARD (first) before anything is forwarded.
iptables -w -N "$GUARD_CHAIN" 2>/dev/null || iptables -w -F "$GUARD_CHAIN"
iptables -w -A "$GUARD_CHAIN" -i eth0 -j DROP
iptables -w -A "$GUARD_CHAIN" -o eth0 -j DROP
iptables -w -A "$GUARD_CHAIN" -s "$POD_CIDR" ! -d "$POD_CIDR" -j DROP
iptables -w -C FORWARD -j "$GUARD_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$GUARD_CHAIN"
# Pods must not reach the machine's upstream resolver or other host services but the
# cluster's: traffic from pods to this host is allowed only to the node IP.
iptables -w -N "$GUARD_CHAIN-IN" 2>/dev/null || iptables -w -F "$GUARD_CHAIN-IN"
# Replies to connections this host opened (e.g. to a Service: de-masqueraded to the host's
# address before nat INPUT restores the service address) are not pod-initiated.
iptables -w -A "$GUARD_CHAIN-IN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
iptables -w -A "$GUARD_CHAIN-IN" -s "$POD_CIDR" -d "$NODE_IP" -j RETURN
iptables -w -A "$GUARD_CHAIN-IN" -s "$POD_CIDR" -d "$POD_GW" -j RETURN
iptables -w -A "$GUARD_CHAIN-IN" -s "$POD_CIDR" -j DROP
iptables -w -C INPUT -j "$GUARD_CHAIN-IN" 2>/dev/null || iptables -w -I INPUT 1 -j "$GUARD_CHAIN-IN"
# No IPv6 forwarding from pods at all.
ip6tables -w -N "$GUARD_CHAIN" 2>/dev/null || ip6tables -w -F "$GUARD_CHAIN"
ip6tables -w -A "$GUARD_CHAIN" -i "$POD_BRIDGE" ! -o "$POD_BRIDGE" -j DROP
ip6tables -w -A "$GUARD_CHAIN" -i eth0 -j DROP
ip6tables -w -A "$GUARD_CHAIN" -o eth0 -j DROP
ip6tables -w -C FORWARD -j "$GUARD_CHAIN" 2>/dev/null || ip6tables -w -I FORWARD 1 -j "$GUARD_CHAIN"
ensure_guard_first() {
  local ipt chain base
  for ipt in iptables ip6tables; do
    for base in FORWARD INPUT; do
      chain=$GUARD_CHAIN; [[ $base == INPUT ]] && chain=$GUARD_CHAIN-IN
      $ipt -w -S "$chain" >/dev/null 2>&1 || continue
      if ! $ipt -w -S "$base" | sed -n 2p | grep -q -- "-j $chain\$"; then
        while $ipt -w -D "$base" -j "$chain" 2>/dev/null; do :; done
        $ipt -w -I "$base" 1 -j "$chain"
      fi
    done
  done
  iptables -w -S FORWARD | sed -n 2p | grep -q -- "-j $GUARD_CHAIN\$" || die "guard chain is not first in FORWARD"
  iptables -w -S INPUT | sed -n 2p | grep -q -- "-j $GUARD_CHAIN-IN\$" || die "guard chain is not first in INPUT"
}
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
echo 1 >/proc/sys/net/bridge/bridge-nf-call-ip6tables
ensure_guard_first

# ------------------------------------------------------------------------------------------
phase "certificates"
cd "$PKI"
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.crt -subj "/CN=pastry-e2e-ca"
# sign NAME SUBJECT [SANs]
sign() {
  local name=$1 subj=$2 sans=${3:-}
  openssl_quiet req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $sans ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$name.ext"
  openssl_quiet x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile "$name.ext" -out "$name.crt"
  rm -f "$name.csr" "$name.ext"
}
sign apiserver "/CN=kube-apiserver" \
  "IP:$NODE_IP,IP:$KUBE_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
sign kubelet-serving "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
sign admin "/O=system:masters/CN=pastry-e2e-admin"
sign controller-manager "/CN=system:kube-controller-manager"
sign scheduler "/CN=system:kube-scheduler"
sign kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
sign kube-proxy "/CN=system:kube-proxy"
openssl_quiet genrsa -out sa.key 2048
openssl_quiet rsa -in sa.key -pubout -out sa.pub
chmod 0600 ./*.key

# kubeconfig NAME CERT
kubeconfig() {
  local file=$1 cert=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: pastry-e2e
  cluster:
    certificate-authority: $PKI/ca.crt
    server: https://$NODE_IP:$APISERVER_PORT
users:
- name: $cert
  user:
    client-certificate: $PKI/$cert.crt
    client-key: $PKI/$cert.key
contexts:
- name: pastry-e2e
  context: {cluster: pastry-e2e, user: $cert}
current-context: pastry-e2e
EOF
  chmod 0600 "$file"
}
kubeconfig "$KUBECONFIG_FILE" admin
kubeconfig "$PKI/controller-manager.kubeconfig" controller-manager
kubeconfig "$PKI/scheduler.kubeconfig" scheduler
kubeconfig "$PKI/kubelet.kubeconfig" kubelet
kubeconfig "$PKI/kube-proxy.kubeconfig" kube-proxy
cd "$E2E_REPO_ROOT"

# start NAME CMD...: runs CMD in its own session, logging to $LOGS/NAME.log.
start() {
  local name=$1; shift
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDS/$name.pid" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  local i; for i in $(seq 50); do [[ -s $PIDS/$name.pid ]] && break; sleep 0.1; done
  [[ -s $PIDS/$name.pid ]] || die "$name did not start"
}
alive() { local p; p=$(cat "$PIDS/$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }
# wait_up SECONDS NAME DESCRIPTION CMD...: like wait_for, failing early if NAME died.
wait_up() {
  local limit=$1 name=$2 what=$3; shift 3
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited while waiting for: $what (log: $LOGS/$name.log)"; }
    (( $(date +%s) < deadline )) || { tail -n 20 "$LOGS/$name.log" >&2; die "timed out after ${limit}s waiting for: $what (log: $LOGS/$name.log)"; }
    sleep 1
  done
}
k() { kubectl --kubeconfig "$KUBECONFIG_FILE" --request-timeout=20s "$@"; }

# ------------------------------------------------------------------------------------------
phase "etcd"
start etcd etcd --name pastry-e2e --data-dir "$E2E_RUN/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "pastry-e2e=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --quota-backend-bytes 2147483648 --snapshot-count 10000 --log-level warn --logger zap
wait_up 60 etcd "etcd health on 127.0.0.1:$ETCD_CLIENT_PORT" \
  bash -c "curl -sf http://127.0.0.1:$ETCD_CLIENT_PORT/health | grep -q '\"health\":\"true\"'"

phase "kube-apiserver"
start kube-apiserver "$E2E_BIN/kube-apiserver" \
  --advertise-address="$NODE_IP" --bind-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
  --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/admin.crt" --kubelet-client-key="$PKI/admin.key" \
  --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --authorization-mode=Node,RBAC --allow-privileged=true --profiling=false \
  --event-ttl=30m --v=1
wait_up 120 kube-apiserver "kube-apiserver /readyz on $NODE_IP:$APISERVER_PORT" \
  curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://$NODE_IP:$APISERVER_PORT/readyz"

phase "controller-manager, scheduler"
start kube-controller-manager "$E2E_BIN/kube-controller-manager" \
  --kubeconfig="$PKI/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
  --service-cluster-ip-range="$SERVICE_CIDR" --allocate-node-cidrs=false \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" --use-service-account-credentials=true \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --profiling=false --v=1
start kube-scheduler "$E2E_BIN/kube-scheduler" \
  --kubeconfig="$PKI/scheduler.kubeconfig" \
  --authentication-kubeconfig="$PKI/scheduler.kubeconfig" --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false --v=1
wait_up 60 kube-controller-manager "the default ServiceAccount (controller-manager working)" k -n default get serviceaccount default

# ------------------------------------------------------------------------------------------
phase "containerd"
mkdir -p "$E2E_RUN/containerd" "$E2E_RUN/cni/net.d" "$E2E_RUN/cni/ipam"
cat >"$E2E_RUN/containerd/config.toml" <<EOF
version = 2
root = "$E2E_RUN/containerd/root"
state = "$E2E_RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$E2E_RUN/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$E2E_RUN/containerd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$E2E_RUN/cni/net.d"
    max_conf_num = 1
EOF
cat >"$E2E_RUN/cni/net.d/10-pastry-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "pastry-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$E2E_RUN/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
# No image is ever pulled: every registry request goes to a closed port on loopback (a
# proxy, so not even the registry's name is resolved).
start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
  http_proxy= https_proxy= no_proxy= containerd --config "$E2E_RUN/containerd/config.toml"
ctr_e2e() { ctr --address "$CONTAINERD_SOCK" "$@"; }
wait_up 60 containerd "containerd on $CONTAINERD_SOCK" ctr_e2e version
# import_image TAR NAME: imports a docker archive into the k8s.io namespace and checks it.
import_image() {
  local tar=$1 name=$2 try out
  for try in 1 2 3; do
    out=$(ctr_e2e -n k8s.io images import "$tar" 2>&1) || log "ctr import of $tar failed (try $try): $out"
    if ctr_e2e -n k8s.io images ls -q 2>/dev/null | grep -x "$name" >/dev/null; then return 0; fi
    sleep 2
  done
  ctr_e2e -n k8s.io images ls >&2 || true
  die "image $name not in containerd after importing $tar: $out"
}
import_image "$PAUSE_TAR" "$PAUSE_IMAGE"
# Workload images built by images.sh, if present.
for tar in "$E2E_CACHE"/images/workload-*.tar; do
  [[ -s $tar ]] || continue
  log "importing $(basename "$tar")"
  import_image "$tar" "$(tar -xOf "$tar" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')"
done

# ------------------------------------------------------------------------------------------
phase "kubelet"
mkdir -p "$E2E_RUN/kubelet" "$E2E_RUN/pod-logs"
printf 'nameserver %s\noptions ndots:5\n' "$DNS_IP" >"$E2E_RUN/kubelet/resolv.conf"
cat >"$E2E_RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_IP]
resolvConf: $E2E_RUN/kubelet/resolv.conf
podLogsDir: $E2E_RUN/pod-logs
failSwapOn: false
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
maxPods: 60
evictionHard:
  memory.available: 200Mi
  nodefs.available: 2%
  nodefs.inodesFree: 2%
  imagefs.available: 2%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
failCgroupV1: false
EOF
start kubelet "$E2E_BIN/kubelet" --config="$E2E_RUN/kubelet/config.yaml" \
  --kubeconfig="$PKI/kubelet.kubeconfig" --root-dir="$E2E_RUN/kubelet/root" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
wait_up 120 kubelet "node $NODE_NAME Ready" \
  bash -c "kubectl --kubeconfig '$KUBECONFIG_FILE' get node '$NODE_NAME' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"

phase "kube-proxy"
cat >"$E2E_RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $PKI/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["$NODE_IP/32"]
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  masqueradeAll: false
EOF
# kube-proxy authenticates as system:kube-proxy: bind the default node-proxier role.
k apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pastry-e2e-kube-proxy}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-proxier}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:kube-proxy}
EOF
start kube-proxy "$E2E_BIN/kube-proxy" --config="$E2E_RUN/kube-proxy.yaml" --v=1
wait_up 60 kube-proxy "kube-proxy rules for the kubernetes Service" \
  bash -c "iptables -w -t nat -S KUBE-SERVICES | grep 'default/kubernetes:https' >/dev/null"
# kube-proxy prepends its jumps (KUBE-FORWARD accepts ESTABLISHED and masquerade-marked
# packets) to FORWARD and INPUT; put the guards back in front. kube-proxy only re-adds a
# jump when it is missing, so they stay first. Nothing is forwarded yet: no pod runs.
ensure_guard_first

# ------------------------------------------------------------------------------------------
phase "coredns"
# CoreDNS runs on the host, bound to the node IP; the kube-dns Service (10.96.0.10) points
# at it through a manual EndpointSlice. No forward plugin: names outside the cluster fail.
cat >"$E2E_RUN/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG_FILE
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loadbalance
}
EOF
start coredns "$E2E_BIN/coredns" -conf "$E2E_RUN/Corefile"
wait_up 60 coredns "CoreDNS ready on 127.0.0.1:18181" curl -sf http://127.0.0.1:18181/ready
k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: pastry-e2e}
addressType: IPv4
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
EOF
wait_up 60 kube-proxy "kube-proxy rules for kube-dns" \
  bash -c "iptables -w -t nat -S | grep 'kube-system/kube-dns:dns ' >/dev/null"

# ------------------------------------------------------------------------------------------
phase "storage"
# A default StorageClass "standard" (the name kind uses) backed by pre-created hostPath
# PersistentVolumes, one directory each under the run dir, writable by any pod user.
PV_COUNT=${PASTRY_E2E_PVS:-16}
PV_SIZE=${PASTRY_E2E_PV_SIZE:-2Gi}
mkdir -p "$E2E_RUN/volumes"
{
  cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
  for i in $(seq -w 0 $((PV_COUNT - 1))); do
    mkdir -p "$E2E_RUN/volumes/pv-$i"; chmod 0777 "$E2E_RUN/volumes/pv-$i"
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pastry-e2e-pv-$i, labels: {pastry-e2e: "true"}}
spec:
  capacity: {storage: $PV_SIZE}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  volumeMode: Filesystem
  hostPath: {path: $E2E_RUN/volumes/pv-$i, type: Directory}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
EOF
  done
} | k apply -f - >/dev/null

# ------------------------------------------------------------------------------------------
phase "smoke pod"
# A pod from the pause image proves sandboxes, CNI and the kubelet work end to end.
k -n default delete pod pastry-e2e-smoke --ignore-not-found --wait=true >/dev/null
k -n default apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: pastry-e2e-smoke}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  securityContext: {runAsNonRoot: true, runAsUser: 65535, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: pause
    image: $PAUSE_IMAGE
    imagePullPolicy: Never
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
EOF
if ! k -n default wait --for=condition=Ready pod/pastry-e2e-smoke --timeout=90s >/dev/null; then
  k -n default describe pod pastry-e2e-smoke | tail -n 25 >&2
  die "smoke pod did not become Ready within 90 s"
fi
smoke_ip=$(k -n default get pod pastry-e2e-smoke -o jsonpath='{.status.podIP}')
[[ $smoke_ip == 10.244.0.* ]] || die "smoke pod has IP '$smoke_ip', expected one in $POD_CIDR"
k -n default delete pod pastry-e2e-smoke --wait=true --timeout=60s >/dev/null

guard_check || die "the network guard is no longer first"
phase ""
touch "$E2E_RUN/up.done"
echo "$KUBECONFIG_FILE" >"$E2E_CACHE/kubeconfig-path"
cat >"$E2E_RUN/env" <<EOF
export KUBECONFIG=$KUBECONFIG_FILE
export PASTRY_E2E_CONTAINERD_SOCK=$CONTAINERD_SOCK
EOF
log "cluster up in $(( $(date +%s) - E2E_T0 )) s; node $NODE_NAME ($NODE_IP), pods $POD_CIDR, services $SERVICE_CIDR, DNS $DNS_IP"
log "use it with: source $E2E_RUN/env   (KUBECONFIG=$KUBECONFIG_FILE)"
echo "KUBECONFIG=$KUBECONFIG_FILE"
