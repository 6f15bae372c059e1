package main

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

func method(o Options) string {
	return fmt.Sprintf("%d round(s); in each, every measurement runs on ebpfnet, Docker on ebpfnet, the CNI peer, Docker's bridge and the raw veth in turn. "+
		"Each load runs %s. A cell is the median over the rounds (min–max); ratios are of medians.", o.Rounds, o.Duration)
}

func groups() []report.Group {
	var gs []report.Group
	for _, p := range allPaths {
		gs = append(gs, report.Group{Key: p.Key, Title: p.Key + ": " + p.Title})
	}
	return append(gs,
		report.Group{Key: "scale", Title: "scale: CRR through DNAT against the number of published ports"},
		report.Group{Key: "control", Title: "control plane"})
}

// notes say how each side does what the table shows.
func notes(h *harness) []string {
	o := h.opts
	return []string{
		"ebpfnet: the daemon built from this tree, in its world's node netns, driven through its CLI " +
			"(`network create`, `endpoint create`, `publish B 8080:5201 8081:7000 8081:7000/udp`).",
		fmt.Sprintf("CNI: bridge (isGateway, ipMasq), host-local and portmap (snat) from Debian's containernetworking-plugins %s, "+
			"called through libcni from a process in the node netns; %s; bridge-nf-call-iptables is the kernel's default.",
			pkgVersion("containernetworking-plugins"), commandVersion("iptables", "--version")),
		fmt.Sprintf("Docker: Debian's docker.io %s (dockerd with its own containerd, in the node netns), containers A, B and S "+
			"from a busybox image, their netns attached for the load tools. \"Docker on ebpfnet\" is a network of the ebpfnet driver "+
			"(`docker network create -d ebpfnet`, the daemon started with --docker-plugin); \"Docker bridge\" is Docker's own driver on "+
			"a user-defined network, with its iptables rules and a docker-proxy per published port (userland-proxy, Docker's default).",
			pkgVersion("docker.io")),
		"raw veth: two netns joined by a veth pair, client to server; measured once per workload and round and shown in every path's rows.",
		"Paths: e2e A to B's address; masq A to ext; dnat ext to the node's uplink address and B's published port; " +
			"localhost the node to 127.0.0.1 and the published port (ebpfnet rewrites at the socket; portmap DNATs in OUTPUT " +
			"and sets route_localnet on the bridge); hairpin A to the uplink address and B's published port.",
		fmt.Sprintf("Loads: tcp-stream is one iperf3 TCP stream (%s); tcp-rr, tcp-crr (a new connection per request, netperf's TCP_CRR) "+
			"and udp-rr are the harness's load tool, one transaction in flight, %d-byte request and response, p50 and p99 over every "+
			"transaction of a run. Client namespaces have net.ipv4.tcp_tw_reuse=1 on every side.", commandVersion("iperf3", "--version"), o.Size),
		"Scale: S publishes N TCP ports (N-1 fillers, then the measured one last, where a rule-by-rule datapath finds it last); " +
			"ext opens new connections to the measured one. ebpfnet publishes with one `ebpfnet publish` (process start included); " +
			"the reference plugins take ports only at ADD, so the CNI figure is one ADD of S (bridge, host-local, portmap). " +
			fmt.Sprintf("Each is timed in every round and stopped after %s (-publish-timeout); the peer does not try an N that "+
				"a smaller one shows it cannot finish in time, as portmap adds its iptables rules one at a time.", o.PublishTimeout),
		fmt.Sprintf("Endpoints: ebpfnet runs `ebpfnet endpoint create` %d times, then one `ebpfnet endpoint rm` of all; "+
			"CNI runs %d ADDs (each making its netns first, as a runtime does) then %d DELs in one libcni process.", o.Endpoints, o.Endpoints, o.Endpoints),
		fmt.Sprintf("CNI ADD and DEL: ebpfnet runs the CNI side's batch (%d ADDs, each making its netns first, then %d DELs, each "+
			"removing it after, no port mappings, in one libcni process in the node netns) with ebpfnet-cni built from this tree "+
			"in place of bridge, host-local and portmap, and the conflist of `ebpfnet cni config bench` (cniVersions 1.0.0 and 1.1.0, "+
			"so libcni speaks 1.1.0 to it; the reference conflist is 1.0.0); the plugin forwards each call to the daemon over its "+
			"socket. The CNI side's figures are of the batch of its create and remove rows. A p50 is of the %d calls of a round, each call alone "+
			"(libcni's AddNetworkList or DelNetworkList, the plugins' processes included), without the netns work; containers/s is "+
			"%d over the sum of a round's ADD and DEL calls. ebpfnet's step fails if its DELs leave anything its ADDs made: a link "+
			"in the node, an endpoint, a program, an address, a bridge port, an entry of %s, a netns or a result in libcni's cache.",
			o.Endpoints, o.Endpoints, o.Endpoints, o.Endpoints, strings.Join(endpointMaps, ", ")),
		"Daemon RSS is VmRSS of the ebpfnet daemon, also for Docker on ebpfnet; for Docker's bridge it is the sum of its docker-proxy " +
			"processes' (a proxy per published port and address family), not dockerd's, which both Docker sides run; the CNI plugins have no daemon.",
		fmt.Sprintf("Scale on the Docker sides: one `docker run` of S with `-p %d-Y:%d-Y -p %d:%d`, Y = %d+N-2 (N ports; the "+
			"container's start included), removed with `docker rm -f`. Docker's bridge does not try more than %d ports: a docker-proxy each.",
			fillerBase, fillerBase, scalePort, loadPort, fillerBase, maxProxies),
	}
}

func pkgVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(out)
}

func commandVersion(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return argv[0] + " (version unknown)"
	}
	return strings.TrimSpace(strings.Split(string(out), "\n")[0])
}
