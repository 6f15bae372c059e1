#!/usr/bin/env bash
# make demo: the whole story in a world of network namespaces, then a clean
# teardown. Nothing touches this machine's own network namespace.
set -euo pipefail
BIN=$(realpath "${1:-bin/ebpfnet}")
W=demo$$
NODE=${W}node EXT=${W}ext
DIR=$(mktemp -d /tmp/ebpfnet-demo.XXXX)
BPFFS=/sys/fs/bpf/ebpfnet-$W
export EBPFNET_SOCKET=$DIR/ebpfnet.sock
EP_A=${W}-api EP_B=${W}-web

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
e() { run "$BIN" "$@"; }

cleanup() {
	set +e
	"$BIN" system reset --state-dir "$DIR/state" --bpffs "$BPFFS" >/dev/null 2>&1
	for ns in "$EP_A" "$EP_B" "$NODE" "$EXT"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$DIR"
}
trap cleanup EXIT

say "a world: netns $NODE (where the daemon runs) and $EXT (the outside), joined by a veth"
ip netns add "$NODE"; ip netns add "$EXT"
ip link add up0 netns "$NODE" type veth peer name ext0 netns "$EXT"
ip -n "$NODE" addr add 198.51.100.1/24 dev up0
ip -n "$EXT" addr add 198.51.100.2/24 dev ext0
for ns in "$NODE" "$EXT"; do ip -n "$ns" link set lo up; done
ip -n "$NODE" link set up0 up; ip -n "$EXT" link set ext0 up
ip -n "$NODE" route add default via 198.51.100.2

say "start the daemon inside $NODE"
run nsenter --net=/run/netns/"$NODE" "$BIN" daemon start --state-dir "$DIR/state" --bpffs "$BPFFS"
e network ls

say "two endpoints on a network of their own, one on the default network"
e network create web --subnet 10.10.0.0/24
e endpoint create "$EP_A" --network web
e endpoint create "$EP_B" --network web
e endpoint ls

say "endpoint to endpoint: bpf_redirect_peer, not the bridge"
run ip netns exec "$EP_A" ping -c 3 -i 0.2 10.10.0.3
e bpf stats

say "the datapath's maps"
e bpf endpoints
e bpf networks
run bpftool map dump pinned "$BPFFS/enet_endpoints"
HOST_A=$("$BIN" endpoint inspect "$EP_A" | sed -n 's/.*"host_name": "\(.*\)".*/\1/p')
run nsenter --net=/run/netns/"$NODE" bpftool net show dev "$HOST_A"
e status

say "daemon stop: forwarding goes on without it"
e daemon stop
run ip netns exec "$EP_A" ping -c 2 -i 0.2 10.10.0.3

say "start again, then system reset removes everything"
run nsenter --net=/run/netns/"$NODE" "$BIN" daemon start --state-dir "$DIR/state" --bpffs "$BPFFS"
e system reset
run ip netns list
