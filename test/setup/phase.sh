#!/usr/bin/env bash
# Runs one phase of `make test` and prints how long it took: phase NAME COMMAND...
name="$1"
shift
start=$(date +%s)
"$@"
rc=$?
echo "phase ${name}: $(( $(date +%s) - start )) s (exit ${rc})"
exit "${rc}"
