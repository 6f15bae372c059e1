package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Path is one way traffic goes in the list.
type Path struct{ Key, Title string }

var allPaths = []Path{
	{"e2e", "endpoint to endpoint on one network"},
	{"masq", "endpoint to ext (masquerade)"},
	{"dnat", "ext to a published port (DNAT)"},
	{"localhost", "node to 127.0.0.1:PORT"},
	{"hairpin", "endpoint A to uplink IP:PORT published by B (hairpin)"},
}

// Workload is a kind of load.
type Workload string

const (
	Stream Workload = "tcp-stream"
	RR     Workload = "tcp-rr"
	CRR    Workload = "tcp-crr"
	UDPRR  Workload = "udp-rr"
)

// Ports every side's servers use, in each server namespace.
const (
	loadPort   = 7000 // the load tool, TCP and UDP
	streamPort = 5201 // iperf3
	// Published on B: hostStream -> streamPort, hostLoad -> loadPort (TCP
	// and UDP). The scale endpoint S gets scalePort -> loadPort, the one
	// CRR goes through, and fillers from fillerBase up.
	hostStream = 8080
	hostLoad   = 8081
	scalePort  = 9000
	fillerBase = 20000
)

// Target is where a side's traffic for a path starts and ends.
type Target struct {
	Client string         // netns the client runs in
	Load   netip.AddrPort // the load server, TCP and UDP
	Stream netip.AddrPort // iperf3
	// World, when set, runs the client in the world's cgroup: the node's
	// own clients, which ebpfnet's socket programs rewrite there only.
	World *world.World
}

func (t Target) valid() bool { return t.Client != "" }

func targetAt(client string, ip netip.Addr, load, stream uint16) Target {
	return Target{Client: client, Load: netip.AddrPortFrom(ip, load), Stream: netip.AddrPortFrom(ip, stream)}
}

// worldTarget is a path on a side that has endpoints A and B on one
// network in its world's node, with B's ports published.
func worldTarget(w *world.World, a string, b netip.Addr, path string) (Target, error) {
	switch path {
	case "e2e":
		return targetAt(a, b, loadPort, streamPort), nil
	case "masq":
		return targetAt(a, world.ExtIP, loadPort, streamPort), nil
	case "dnat":
		return targetAt(w.Ext, world.NodeIP, hostLoad, hostStream), nil
	case "localhost":
		t := targetAt(w.Node, netip.MustParseAddr("127.0.0.1"), hostLoad, hostStream)
		t.World = w
		return t, nil
	case "hairpin":
		return targetAt(a, world.NodeIP, hostLoad, hostStream), nil
	}
	return Target{}, fmt.Errorf("unknown path %q", path)
}

// side is one of the three ways of building the topology.
type side interface {
	Name() string
	// Target is how the side does a path, or a notAvailable error.
	Target(path string) (Target, error)
	// Publish publishes n TCP ports on the scale endpoint, the last of them
	// the one the scale CRR goes through, and says how long it took. A side
	// with nothing to publish returns a notAvailable error and still a
	// valid target for the CRR.
	Publish(ctx context.Context, n int) (Target, time.Duration, error)
	Unpublish(ctx context.Context) error
	// Endpoints times creating n endpoints on the network, then removing
	// them, and the same through the side's CNI plugin, call by call.
	Endpoints(ctx context.Context, n int) endpointTimes
	// RSS is the daemon's resident memory in bytes.
	RSS(ctx context.Context) (uint64, error)
}

// endpointTimes is what an endpoints step measured, each part or why not.
type endpointTimes struct {
	create, remove time.Duration // all n endpoints
	err            error
	cni            cniCalls
	cniErr         error
}

// cniCalls are the times of n CNI ADDs through libcni, then of the n DELs
// of them, each call alone.
type cniCalls struct{ add, del []time.Duration }

// notAvailable is why a side cannot do something: the table says "n/a: why".
type notAvailable struct{ reason string }

func (e notAvailable) Error() string { return e.reason }

func na(format string, args ...any) error { return notAvailable{fmt.Sprintf(format, args...)} }

func isNA(err error) bool {
	var n notAvailable
	return errors.As(err, &n)
}

// scalePorts are the host ports of a scale point of n: n-1 fillers, then
// the measured one last, where a rule-by-rule datapath looks it up last.
func scalePorts(n int) []int {
	ports := make([]int, 0, n)
	for i := range n - 1 {
		ports = append(ports, fillerBase+i)
	}
	return append(ports, scalePort)
}
