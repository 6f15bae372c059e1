#!/usr/bin/env bash
# Installs the Debian packages the tests, demo and benchmarks need, when
# they are missing. Safe to run again: it does nothing on a ready machine.
set -euo pipefail

# command -> package
declare -A need=(
	[clang-19]=clang-19
	[llvm-strip-19]=llvm-19
	[ip]=iproute2
	[ping]=iputils-ping
	[nsenter]=util-linux
	[sysctl]=procps
	[iperf3]=iperf3
	[sockperf]=sockperf
	[iptables-save]=iptables
	[nft]=nftables
	[conntrack]=conntrack
	[bpftool]=bpftool
	[socat]=socat
	[traceroute]=traceroute
	[tracepath]=iputils-tracepath
	[nmap]=nmap
	[nc]=netcat-openbsd
	[tcpdump]=tcpdump
	[curl]=curl
	[python3]=python3
	[podman]=podman
	[runc]=runc
	[containerd]=containerd
	[dockerd]=docker.io
	[dig]=dnsutils
	[dnsperf]=dnsperf
	[prometheus]=prometheus
	[promtool]=prometheus
)
declare -A files=(
	[/usr/lib/cni/bridge]=containernetworking-plugins
	[/bin/busybox]=busybox-static
	[/usr/lib/python3/dist-packages/scapy]=python3-scapy
	[/usr/lib/podman/aardvark-dns]=aardvark-dns
)

missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
for f in "${!files[@]}"; do
	[ -e "$f" ] || missing+=("${files[$f]}")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
