#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian/Ubuntu machine, when it is missing.
# Idempotent: a machine that has everything spends a second here.
set -euo pipefail
cd "$(dirname "$0")/../.."

gobin="$(go env GOPATH 2>/dev/null)/bin"
export PATH="$gobin:$PATH"

need_go() {
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: Go is needed to install $1 (apt-get install golang-go)" >&2; exit 1; }
}

if ! command -v grpcurl >/dev/null 2>&1; then
  need_go grpcurl
  echo "ensure-test-tools: installing grpcurl with go install"
  go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
fi

# Debian's grpcio and grpcio-tools for the generated Python client test (test/python/): they
# install for the system interpreter, /usr/bin/python3, which the test runs.
python_grpc_ok() { /usr/bin/python3 -c 'import grpc, grpc_tools.protoc' >/dev/null 2>&1; }
if ! python_grpc_ok; then
  source "$(dirname "$0")/apt.sh"
  apt_install ensure-test-tools python3 python3-grpcio python3-grpc-tools python3-protobuf
  python_grpc_ok || { echo "ensure-test-tools: could not install python3-grpcio and python3-grpc-tools for /usr/bin/python3" >&2; exit 1; }
fi

for script in test/setup/ensure-*.sh; do
  [ "$script" = "test/setup/ensure-test-tools.sh" ] && continue
  bash "$script"
done
echo "ensure-test-tools: ok"
