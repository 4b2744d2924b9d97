#!/usr/bin/env bash
# kubo 0.43.1's `ipfs` for the file-sharing benchmark, built once into $(go env GOPATH)/bin.
# `go install` refuses kubo (its go.mod has a replace directive), and the replacement it names
# (a go-libp2p fork) is not served here, so it is built from the module source with that
# replace dropped and upstream go-libp2p v0.52.0 instead (v0.49.0, the version kubo names,
# does not build against the webtransport-go kubo brings).
set -euo pipefail
VERSION=v0.43.1
BIN="$(go env GOPATH)/bin/ipfs"
if [[ -x $BIN ]] && "$BIN" version 2>/dev/null | grep -q "${VERSION#v}"; then echo "$BIN"; exit 0; fi
dir=$(go mod download -json "github.com/ipfs/kubo@$VERSION" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).Dir))')
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r "$dir/." "$src" && chmod -R u+w "$src"
sed -i '/^replace github.com\/libp2p\/go-libp2p =>/d' "$src/go.mod"
(cd "$src" && go mod edit -require=github.com/libp2p/go-libp2p@v0.52.0)
(cd "$src" && go build -mod=mod -o "$BIN" ./cmd/ipfs) >&2
echo "$BIN"
