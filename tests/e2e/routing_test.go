package e2e

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestInternalNetworkHasNoWayOut: an internal network's endpoint reaches
// its gateway and nothing beyond the subnet.
func TestInternalNetworkHasNoWayOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "sealed", "--internal", "--subnet", "10.27.0.0/24")
	a := w.Name("a")
	newEndpoint(t, w, a, "sealed")
	startServer(t, w.Ext, extServer)

	if out, err := w.Exec(a, "ping", "-c", "1", "-W", "1", world.ExtIP.String()); err == nil {
		t.Fatalf("ping from an internal network reached ext:\n%s", out)
	}
	if c, err := dialTCP(a, netip.AddrPort{}, extServer, time.Second); err == nil {
		c.conn.Close()
		t.Fatalf("tcp from an internal network reached ext, seen from %s", c.Seen)
	}
	if counted(t, w, a, "drop-internal") == 0 {
		t.Fatalf("no drop-internal counted for %s:\n%s", a, w.MustCLI("bpf", "stats"))
	}
	gw := inspectNetwork(t, w, "sealed").Gateway
	w.MustExec(a, "ping", "-c", "1", "-W", "2", gw)
	// The node's other addresses too, as Docker's internal networks do.
	w.MustExec(a, "ping", "-c", "1", "-W", "2", world.NodeIP.String())
}

// TestMasqueradeOff: a network with masquerade=false is routed out
// untranslated, and replies come back through a route on the outside.
func TestMasqueradeOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "routed", "--opt", "masquerade=false", "--subnet", "10.28.0.0/24")
	w.MustExec(w.Ext, "ip", "route", "add", "10.28.0.0/24", "via", world.NodeIP.String())
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "routed")
	srv := startServer(t, w.Ext, extServer)

	c := mustDialTCP(t, a, netip.AddrPort{}, srv.Addr)
	if c.Seen.Addr() != aIP {
		t.Fatalf("ext saw the tcp connection from %s, want %s", c.Seen, aIP)
	}
	c.mustSend(t, 1000)
	if seen, err := askUDP(a, netip.AddrPort{}, srv.Addr); err != nil || seen.Addr() != aIP {
		t.Fatalf("ext saw the udp datagram from %s, want %s: %v", seen, aIP, err)
	}
	w.MustExec(a, "ping", "-c", "1", "-W", "2", world.ExtIP.String())
	if counted(t, w, a, "forward-routed") == 0 {
		t.Fatalf("no forward-routed counted for %s:\n%s", a, w.MustCLI("bpf", "stats"))
	}
	if nat := cliJSON[[]api.BPFNAT](t, w, "bpf", "nat", "--json"); len(nat) != 0 {
		t.Fatalf("untranslated flows have translations: %+v", nat)
	}
}

// TestNodeAndEndpoint: an endpoint reaches the node's uplink address and
// the node reaches the endpoint, both untranslated.
func TestNodeAndEndpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.29.0.0/24")
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "web")
	gw := netip.MustParseAddr(inspectNetwork(t, w, "web").Gateway)
	nodeSrv := startServer(t, w.Node, netip.AddrPortFrom(world.NodeIP, 7000))
	epSrv := startServer(t, a, netip.AddrPortFrom(aIP, 7000))

	cases := []struct {
		name     string
		from     string
		local    netip.AddrPort
		to       netip.AddrPort
		wantSeen netip.Addr
	}{
		{"endpoint to uplink address", a, netip.AddrPort{}, nodeSrv.Addr, aIP},
		{"node to endpoint", w.Node, netip.AddrPort{}, epSrv.Addr, gw},
		{"node from uplink address to endpoint", w.Node, netip.AddrPortFrom(world.NodeIP, 0), epSrv.Addr, world.NodeIP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := mustDialTCP(t, c.from, c.local, c.to)
			if cl.Seen.Addr() != c.wantSeen {
				t.Fatalf("%s saw the connection from %s, want %s", c.to, cl.Seen, c.wantSeen)
			}
			cl.mustSend(t, 1000)
		})
	}
	w.MustExec(a, "ping", "-c", "1", "-W", "2", world.NodeIP.String())
	w.MustExec(w.Node, "ping", "-c", "1", "-W", "2", aIP.String())
	if flows := cliJSON[[]api.BPFFlow](t, w, "bpf", "ct", "--json"); slices.ContainsFunc(flows, func(f api.BPFFlow) bool {
		return slices.Contains(f.Flags, "snat")
	}) {
		t.Fatalf("traffic between node and endpoint was masqueraded: %+v", flows)
	}
}

// Issue 19, point 8: a source rule for an endpoint's address holds, as it
// does for netfilter's path: table 100 prohibits everything, and the
// kernel answers the endpoint with "packet filtered"; another endpoint of
// the network is masqueraded as before.
func TestSourcePolicyRouting(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.32.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	aIP := newEndpoint(t, w, a, "web")
	newEndpoint(t, w, b, "web")
	srv := startServer(t, w.Ext, extServer)
	w.MustExec(w.Node, "ip", "route", "add", "prohibit", "default", "table", "100")
	w.MustExec(w.Node, "ip", "rule", "add", "from", aIP.String(), "lookup", "100")

	out, err := w.Exec(a, "ping", "-n", "-c", "1", "-W", "2", world.ExtIP.String())
	if err == nil || !strings.Contains(out, "Packet filtered") {
		t.Fatalf("ping from %s, whose source table 100 prohibits: %v\n%s", aIP, err, out)
	}
	if _, err := dialTCP(a, netip.AddrPort{}, srv.Addr, 5*time.Second); !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Fatalf("connect from %s: %v, want EHOSTUNREACH", aIP, err)
	}
	mustPing(t, w, b, world.ExtIP.String())
	if c := mustDialTCP(t, b, netip.AddrPort{}, srv.Addr); c.Seen.Addr() != world.NodeIP {
		t.Fatalf("ext saw b from %s, want %s", c.Seen, world.NodeIP)
	}
}
