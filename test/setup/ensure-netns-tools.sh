#!/usr/bin/env bash
# ip (iproute2), tc and iptables for `pastry cluster up --netns` and its integration test:
# network namespaces, a bridge, veth pairs, a host guard chain and per-pod partition rules.
# Installs the Debian packages with apt-get when a tool is missing; a machine that has them
# spends no time here (apt.sh installs, waiting for the dpkg lock).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

packages=()
command -v ip >/dev/null 2>&1 || packages+=(iproute2)
command -v tc >/dev/null 2>&1 || { [[ " ${packages[*]-} " == *" iproute2 "* ]] || packages+=(iproute2); }
command -v iptables >/dev/null 2>&1 || packages+=(iptables)
[ "${#packages[@]}" -eq 0 ] && exit 0

source "$(dirname "$0")/apt.sh"
apt_install ensure-netns-tools "${packages[@]}"
for tool in ip tc iptables; do
  command -v "$tool" >/dev/null 2>&1 || { echo "ensure-netns-tools: could not install $tool (${packages[*]})" >&2; exit 1; }
done
echo "ensure-netns-tools: $(iptables --version)" >&2
