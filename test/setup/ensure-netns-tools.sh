#!/usr/bin/env bash
# ip (iproute2), tc and iptables for `pastry cluster up --netns` and its integration test:
# network namespaces, a bridge, veth pairs, a host guard chain and per-pod partition rules.
# Installs the Debian packages with apt-get when a tool is missing; a machine that has them
# spends no time here. Another apt process may hold the dpkg lock (a parallel setup step):
# apt-get waits for it (DPkg::Lock::Timeout), and a failed attempt is retried.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

packages=()
command -v ip >/dev/null 2>&1 || packages+=(iproute2)
command -v tc >/dev/null 2>&1 || { [[ " ${packages[*]-} " == *" iproute2 "* ]] || packages+=(iproute2); }
command -v iptables >/dev/null 2>&1 || packages+=(iptables)
[ "${#packages[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-netns-tools: ${packages[*]} missing and apt-get is not available; install them (ip, tc, iptables)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "ensure-netns-tools: run as root or install sudo: apt-get install ${packages[*]} needs root" >&2
    exit 1
  fi
fi
echo "ensure-netns-tools: installing ${packages[*]} with apt-get" >&2
apt_get() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
for attempt in 1 2 3 4 5 6; do
  if apt_get update -qq && apt_get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
    break
  fi
  echo "ensure-netns-tools: apt-get failed (attempt $attempt), retrying" >&2
  sleep 10
done
for tool in ip tc iptables; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-netns-tools: could not install $tool (${packages[*]})" >&2; exit 1; }
done
echo "ensure-netns-tools: $(iptables --version)" >&2
