#!/usr/bin/env bash
# Makes `helm` (Helm 3) available for the chart tests and the k8s make targets.
#
#   bash test/setup/ensure-helm.sh      # installs helm if missing, prints its path
#   source test/setup/ensure-helm.sh    # the same, and puts it on this shell's PATH
#
# Uses `helm` from PATH when there is one; otherwise builds the pinned version with
# `go install` (Helm is a Go module; the Go module proxy serves it) into
# $(go env GOBIN) or $(go env GOPATH)/bin. Fails with a clear message without Go.
# The chart tests (test/chart) find helm on PATH or in that directory.

_ensure_helm() {
  local version="${HELM_VERSION:-v3.22.0}"
  local existing gobin go_cmd locked=""

  existing="$(command -v helm 2>/dev/null || true)"
  if [ -n "$existing" ]; then
    echo "ensure-helm: using $existing ($("$existing" version --short 2>/dev/null || echo 'version unknown'))" >&2
    echo "$existing"
    return 0
  fi

  go_cmd="$(command -v go 2>/dev/null || true)"
  if [ -z "$go_cmd" ] && [ -x /usr/local/go/bin/go ]; then
    go_cmd=/usr/local/go/bin/go
  fi
  if [ -z "$go_cmd" ]; then
    echo "ensure-helm: helm is not installed and Go is not available to build it." >&2
    echo "ensure-helm: install Go (https://go.dev/doc/install, or 'apt-get install golang-go')" >&2
    echo "ensure-helm: and rerun, or install helm ${version} yourself and put it on PATH." >&2
    return 1
  fi

  gobin="$("$go_cmd" env GOBIN)"
  if [ -z "$gobin" ]; then
    gobin="$("$go_cmd" env GOPATH)/bin"
  fi

  # One build at a time (parallel test workers may all ask): wait for the lock, then re-check.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/ensure-helm.lock"
    flock 9
    locked=1
  fi
  if [ ! -x "$gobin/helm" ]; then
    echo "ensure-helm: building helm ${version} with 'go install' into $gobin (takes a minute or two)" >&2
    # Outside any module or workspace of the caller, so that only the pinned version counts.
    if ! (cd "${TMPDIR:-/tmp}" && GOWORK=off "$go_cmd" install "helm.sh/helm/v3/cmd/helm@${version}"); then
      echo "ensure-helm: 'go install helm.sh/helm/v3/cmd/helm@${version}' failed (see above)." >&2
      [ -z "$locked" ] || exec 9>&-
      return 1
    fi
  fi
  [ -z "$locked" ] || exec 9>&-

  case ":$PATH:" in
    *":$gobin:"*) ;;
    *) export PATH="$gobin:$PATH" ;;
  esac
  echo "ensure-helm: using $gobin/helm ($("$gobin/helm" version --short 2>/dev/null || echo 'version unknown'))" >&2
  echo "$gobin/helm"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  _ensure_helm
else
  _ensure_helm >/dev/null
fi
