#!/usr/bin/env bash
# Builds the Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy) and a CoreDNS without the forward plugin from the Go module proxy
# into $PASTRY_E2E_CACHE/bin. A second run finds them there and builds nothing.
#
#   bash test/e2e/cluster/build.sh
#
# k8s.io/kubernetes has replace directives (its staging modules live inside it), so
# `go install k8s.io/kubernetes/cmd/...@v` is refused; a scratch module that requires it and
# replaces each staging module by its published v0.X.Y builds all five in one `go build`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null || die "go is not on PATH (the Kubernetes binaries are built from the Go module proxy)"
NICE=(nice -n "${PASTRY_E2E_NICE:-10}")
mkdir -p "$E2E_BIN" "$E2E_CACHE/src"

k8s_stamp="$E2E_BIN/.kubernetes-$K8S_VERSION"
coredns_stamp="$E2E_BIN/.coredns-$COREDNS_VERSION-2"   # bump the suffix when the plugin list changes

build_kubernetes() {
  local have=1 b
  for b in "${K8S_BINARIES[@]}"; do [[ -x $E2E_BIN/$b ]] || have=0; done
  if ((have)) && [[ -e $k8s_stamp ]]; then log "Kubernetes $K8S_VERSION binaries cached in $E2E_BIN"; return 0; fi

  phase "build kubernetes $K8S_VERSION"
  local src="$E2E_CACHE/src/kubernetes-$K8S_VERSION"
  local staging_version="v0.${K8S_VERSION#v1.}"
  mkdir -p "$src"
  cd "$src"
  if [[ ! -e go.mod ]]; then
    go mod init pastry-e2e/kubernetes >/dev/null 2>&1
  fi
  # The staging modules are the ones k8s.io/kubernetes replaces with ./staging/src/...
  local kmod
  kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f $kmod ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$kmod" | sort -u)
  [[ -n $staging ]] || die "found no staging replace directives in $kmod"
  {
    echo "module pastry-e2e/kubernetes"
    echo
    echo "go $(sed -n 's/^go \(.*\)/\1/p' "$kmod")"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
  } >go.mod
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    for b in "${K8S_BINARIES[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$b\""; done
    echo ")"
  } >tools.go
  log "resolving modules (go mod tidy)"
  GOFLAGS=-mod=mod go mod tidy >tidy.log 2>&1 || { tail -30 tidy.log >&2; die "go mod tidy failed in $src (log: $src/tidy.log)"; }

  local ld="-s -w"
  local v="${K8S_VERSION#v}" major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  local out="$src/out"; rm -rf "$out"; mkdir -p "$out"
  local pkgs=(); for b in "${K8S_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  log "go build ${K8S_BINARIES[*]} (about 15-17 min cold on 2 cores; log: $src/build.log)"
  if ! CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "$ld" -o "$out/" "${pkgs[@]}" >build.log 2>&1; then
    tail -40 build.log >&2; die "go build of Kubernetes failed (log: $src/build.log)"
  fi
  for b in "${K8S_BINARIES[@]}"; do install -m 0755 "$out/$b" "$E2E_BIN/$b.new" && mv -f "$E2E_BIN/$b.new" "$E2E_BIN/$b"; done
  rm -rf "$out"
  touch "$k8s_stamp"
  "$E2E_BIN/kubelet" --version >&2
}

build_coredns() {
  if [[ -x $E2E_BIN/coredns && -e $coredns_stamp ]]; then log "CoreDNS $COREDNS_VERSION cached in $E2E_BIN"; return 0; fi
  phase "build coredns $COREDNS_VERSION"
  local src="$E2E_CACHE/src/coredns-$COREDNS_VERSION"
  mkdir -p "$src"; cd "$src"
  # Only the plugins the cluster needs; no forward (no DNS query leaves the machine).
  cat >main.go <<'EOF'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// Order matters: it is the order in which the plugins see a query.
var directives = []string{"bind", "ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
EOF
  [[ -e go.mod ]] || go mod init pastry-e2e/coredns >/dev/null 2>&1
  GOFLAGS=-mod=mod go get "github.com/coredns/coredns@$COREDNS_VERSION" >get.log 2>&1 || { tail -30 get.log >&2; die "go get coredns@$COREDNS_VERSION failed (log: $src/get.log)"; }
  GOFLAGS=-mod=mod go mod tidy >tidy.log 2>&1 || { tail -30 tidy.log >&2; die "go mod tidy for coredns failed (log: $src/tidy.log)"; }
  log "go build coredns (log: $src/build.log)"
  if ! CGO_ENABLED=0 "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o coredns.new . >build.log 2>&1; then
    tail -40 build.log >&2; die "go build of CoreDNS failed (log: $src/build.log)"
  fi
  install -m 0755 coredns.new "$E2E_BIN/coredns" && rm -f coredns.new
  touch "$coredns_stamp"
  "$E2E_BIN/coredns" -plugins | tr '\n' ' ' >&2; echo >&2
}

build_kubernetes
build_coredns
phase ""
