#!/usr/bin/env bash
# Compiles the example compute modules (examples/compute/*.ts) and the sandbox fixtures
# (examples/compute/fixtures/*.ts) with the repository's AssemblyScript compiler into
# examples/compute/build/<name>.wasm and examples/compute/build/fixtures/<name>.wasm.
# Make-like: a module is rebuilt only when its source, the shared lib/, this script or the
# compiler is newer than its .wasm. Runs from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
asc="$root/node_modules/.bin/asc"
out="$here/build"

# -O3: optimize for speed; --noAssert: no assertion traps (the examples abort explicitly);
# --runtime stub: a bump allocator that never frees, which is all a short-lived unit needs and
# keeps modules to a few KiB.
flags=(-O3 --noAssert --runtime stub)

if [[ ! -x $asc ]]; then
  echo "build.sh: $asc is missing; run 'npm ci' (or 'make deps') first" >&2
  exit 1
fi

# Everything a module depends on besides its own source.
shared=("$here/build.sh" "$root/node_modules/assemblyscript/package.json")
shopt -s nullglob
shared+=("$here"/lib/*.ts)

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# compile <source.ts> <output.wasm>
compile() {
  local src=$1 dst=$2 dep fresh=1
  local rel="${dst#"$root"/}"
  if [[ -f $dst ]]; then
    for dep in "$src" "${shared[@]}"; do
      if [[ ! $dst -nt $dep ]]; then fresh=0; break; fi
    done
  else
    fresh=0
  fi
  if (( fresh )); then
    printf '%-48s %7d bytes  up to date\n' "$rel" "$(stat -c %s "$dst")"
    return
  fi
  mkdir -p "$(dirname "$dst")"
  local tmp="${dst%.wasm}.partial.wasm" start
  start=$(now_ms)
  if ! "$asc" "$src" -o "$tmp" "${flags[@]}"; then
    rm -f "$tmp"
    echo "build.sh: compiling ${src#"$root"/} failed" >&2
    exit 1
  fi
  mv -f "$tmp" "$dst"
  local ms=$(( $(now_ms) - start ))
  printf '%-48s %7d bytes  built in %d.%03ds\n' "$rel" "$(stat -c %s "$dst")" $((ms / 1000)) $((ms % 1000))
}

for src in "$here"/*.ts; do
  name="$(basename "$src" .ts)"
  compile "$src" "$out/$name.wasm"
done
for src in "$here"/fixtures/*.ts; do
  name="$(basename "$src" .ts)"
  compile "$src" "$out/fixtures/$name.wasm"
done
