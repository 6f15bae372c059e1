#!/usr/bin/env bash
# make demo: the whole story in a world of network namespaces, then a clean
# teardown. Nothing touches this machine's own network namespace, and the
# socket programs attach to a throwaway cgroup the demo's clients run in.
set -euo pipefail
BIN=$(realpath "${1:-bin/ebpfnet}")
W=demo$$
NODE=${W}node EXT=${W}ext
DIR=$(mktemp -d /tmp/ebpfnet-demo.XXXX)
BPFFS=/sys/fs/bpf/ebpfnet-$W
CG=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)/ebpfnet-$W
export EBPFNET_SOCKET=$DIR/ebpfnet.sock
API=${W}-api WEB=${W}-web

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
e() { run "$BIN" "$@"; }
# node: a command in the node namespace, inside the demo's cgroup.
node() {
	printf '$ (in %s, cgroup %s) %s\n' "$NODE" "${CG##*/}" "$*"
	sh -c 'echo $$ > "$0/cgroup.procs"; ns=$1; shift; exec nsenter --net=/run/netns/"$ns" -- "$@"' "$CG" "$NODE" "$@"
}

# inns: a command in an endpoint's namespace with its /etc/netns files
# (resolv.conf), inside the demo's cgroup.
inns() {
	printf '$ (in %s, cgroup %s) %s\n' "$1" "${CG##*/}" "${*:2}"
	sh -c 'echo $$ > "$0/cgroup.procs"; exec ip netns exec "$@"' "$CG" "$@"
}

cleanup() {
	set +e
	"$BIN" system reset --state-dir "$DIR/state" --bpffs "$BPFFS" >/dev/null 2>&1
	for ns in "$API" "$WEB" "$NODE" "$EXT"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$ns" 2>/dev/null; done
	[ -d "$CG" ] && rmdir "$CG"
	rm -rf "$DIR"
}
trap cleanup EXIT

say "a world: netns $NODE (where the daemon runs) and $EXT (the outside), joined by a veth"
ip netns add "$NODE"; ip netns add "$EXT"; mkdir -p "$CG"
ip link add up0 netns "$NODE" type veth peer name ext0 netns "$EXT"
ip -n "$NODE" addr add 198.51.100.1/24 dev up0
ip -n "$EXT" addr add 198.51.100.2/24 dev ext0
for ns in "$NODE" "$EXT"; do ip -n "$ns" link set lo up; done
ip -n "$NODE" link set up0 up; ip -n "$EXT" link set ext0 up
ip -n "$NODE" route add default via 198.51.100.2

say "start the daemon inside $NODE"
run nsenter --net=/run/netns/"$NODE" "$BIN" daemon start --state-dir "$DIR/state" --bpffs "$BPFFS" --cgroup "$CG"
e network ls

say "a network, an endpoint serving HTTP on port 80 published as 8080, and a second endpoint"
e network create web --subnet 10.10.0.0/24
e endpoint create "$API" --network web -p 8080:80 --alias api
e endpoint create "$WEB" --network web
e endpoint ls
e port
ip netns exec "$API" python3 -m http.server 80 --bind 0.0.0.0 >/dev/null 2>&1 &
sleep 0.5

say "endpoint to endpoint: bpf_redirect_peer, not the bridge"
run ip netns exec "$WEB" ping -c 3 -i 0.2 10.10.0.2

say "names: the network's resolver, at 127.0.0.11 as in Docker; plain queries answered in the datapath"
inns "$WEB" cat /etc/resolv.conf
inns "$WEB" getent hosts "$API" api
inns "$WEB" curl -s -o /dev/null -w 'by name: HTTP %{http_code}\n' http://api/
inns "$WEB" dig +noall +answer +stats api
e dns ls web

say "out to the world, masqueraded in eBPF: ext sees the node's address"
ip netns exec "$EXT" python3 -m http.server 9999 --bind 198.51.100.2 >"$DIR/ext.log" 2>&1 &
sleep 0.5
run ip netns exec "$WEB" curl -s -o /dev/null -w 'HTTP %{http_code}\n' http://198.51.100.2:9999/
run grep -o '^[0-9.]* ' "$DIR/ext.log"

say "the published port: from outside, from the node itself (socket rewrite, no proxy), and hairpin"
run ip netns exec "$EXT" curl -s -o /dev/null -w 'from ext: HTTP %{http_code}\n' http://198.51.100.1:8080/
node curl -s -o /dev/null -w 'from the node, 127.0.0.1: HTTP %{http_code}\n' http://127.0.0.1:8080/
run ip netns exec "$WEB" curl -s -o /dev/null -w 'hairpin from the other endpoint: HTTP %{http_code}\n' http://198.51.100.1:8080/

say "what the datapath saw"
e bpf stats
e bpf ct
e bpf ports
e bpf endpoints
run bpftool map dump pinned "$BPFFS/enet_ports"
run bpftool map dump pinned "$BPFFS/enet_endpoints"
PROGS=$("$BIN" status --json | python3 -c 'import json, sys; print(*sorted({p["id"] for p in json.load(sys.stdin)["programs"]}))')
for id in $PROGS; do run bpftool prog show id "$id"; done
run bpftool map show pinned "$BPFFS/enet_ct"
e status

say "no iptables or nftables rule anywhere in the node"
run ip netns exec "$NODE" iptables-save
run ip netns exec "$NODE" nft list ruleset

say "daemon stop: forwarding and publishing go on without it"
e daemon stop
run ip netns exec "$EXT" curl -s -o /dev/null -w 'from ext, daemon stopped: HTTP %{http_code}\n' http://198.51.100.1:8080/

say "start again, then system reset removes everything"
run nsenter --net=/run/netns/"$NODE" "$BIN" daemon start --state-dir "$DIR/state" --bpffs "$BPFFS" --cgroup "$CG"
e system reset
run ip netns list
