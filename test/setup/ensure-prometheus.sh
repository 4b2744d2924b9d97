#!/usr/bin/env bash
# Makes Debian's `prometheus` and `promtool` available for the observability tests and
# `pastry monitor`. Installs the package with apt-get when either is missing; a machine that
# has both spends no time here. The package's own service is never started: the tests and
# `pastry monitor` run prometheus themselves, and there is no systemd on these machines.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prometheus: prometheus is missing and apt-get is not available;" >&2
  echo "ensure-prometheus: install Prometheus 2.x so that prometheus and promtool are on PATH." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "ensure-prometheus: run as root or install sudo: apt-get install prometheus needs root" >&2
    exit 1
  fi
fi

echo "ensure-prometheus: installing prometheus with apt-get (about half a minute)" >&2
# A policy-rc.d that denies every start keeps the package's postinst from starting its daemon
# (it would take port 9090); an existing policy is left as it is.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus >/dev/null

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "ensure-prometheus: apt-get install prometheus did not provide prometheus and promtool" >&2
  exit 1
fi
echo "ensure-prometheus: $(prometheus --version 2>&1 | head -n 1)" >&2
