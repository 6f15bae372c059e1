package e2e

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 4, point 2: from outside, TCP and UDP to the node's address and a
// host port reach the endpoint, which sees the client's own address; the
// replies come from the node's address and the host port.
func TestPublishFromExt(t *testing.T) {
	t.Parallel()
	w, ep, _ := srvWorld(t)
	w.MustCLI("publish", ep, "8080:80", "5353:53/udp")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
	mustReach(t, w, w.Ext, false, "udp", "198.51.100.1:5353", "srv 198.51.100.2:", "198.51.100.1:5353")
}

// Issue 4, point 3: the node's own connections to 127.0.0.1:HOSTPORT and
// <uplink>:HOSTPORT reach the endpoint, rewritten at the socket: the
// client's socket shows the address it was given, no proxy runs, nothing
// listens on the host port, and a process of another namespace in the
// same cgroup is left alone.
func TestPublishFromNode(t *testing.T) {
	t.Parallel()
	w, ep, _ := srvWorld(t)
	w.MustCLI("publish", ep, "8080:80", "5353:53/udp")
	for _, c := range []struct{ name, proto, addr string }{
		{"tcp loopback", "tcp", "127.0.0.1:8080"},
		{"tcp uplink", "tcp", "198.51.100.1:8080"},
		{"udp loopback", "udp", "127.0.0.1:5353"},
		{"udp uplink", "udp", "198.51.100.1:5353"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustReach(t, w, w.Node, true, c.proto, c.addr, "srv ", c.addr)
		})
	}
	t.Run("no proxy", func(t *testing.T) {
		if out, err := exec.Command("pgrep", "-af", "docker-proxy|userland-proxy").Output(); err == nil {
			t.Errorf("a proxy process runs:\n%s", out)
		}
		if pids := netnsPids(t, w.Node); len(pids) != 1 {
			t.Errorf("processes in the node: %v, want the daemon's only", pids)
		}
		if out := w.MustExec(w.Node, "ss", "-Htlnp", "sport = :8080"); strings.TrimSpace(out) != "" {
			t.Errorf("something listens on the host port:\n%s", out)
		}
	})
	t.Run("other netns untouched", func(t *testing.T) {
		serve(t, w, w.Ext, "tcp", "127.0.0.1:8080", "ext-local")
		serve(t, w, w.Ext, "udp", "127.0.0.1:5353", "ext-local")
		mustReach(t, w, w.Ext, true, "tcp", "127.0.0.1:8080", "ext-local 127.0.0.1:", "127.0.0.1:8080")
		mustReach(t, w, w.Ext, true, "udp", "127.0.0.1:5353", "ext-local 127.0.0.1:", "127.0.0.1:5353")
	})
}

// Issue 4, point 4: hairpin. An endpoint reaches another, on its own
// network or another one, through <uplink>:HOSTPORT or its gateway, and
// an endpoint reaches its own published port; the target sees its
// network's gateway as the source.
func TestPublishHairpin(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t, "peer")
	w.MustCLI("network", "create", "other", "--subnet", "10.20.0.0/24")
	peer, far := w.Name("peer"), w.Name("far")
	w.MustCLI("endpoint", "create", far, "--network", "other")
	w.MustCLI("publish", srv, "8080:80", "5353:53/udp")
	for _, c := range []struct{ name, from, addr string }{
		{"same network", peer, "198.51.100.1"},
		{"other network", far, "198.51.100.1"},
		{"other network via its gateway", far, "10.20.0.1"},
		{"itself", srv, "198.51.100.1"},
		{"itself via its gateway", srv, "10.10.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for proto, port := range map[string]string{"tcp": ":8080", "udp": ":5353"} {
				mustReach(t, w, c.from, false, proto, c.addr+port, "srv 10.10.0.1:", c.addr+port)
			}
		})
	}
}

// Issue 4, point 5: a port published on 127.0.0.1 answers the node only,
// never the outside, even for frames sent to 127.0.0.1 (CVE-2020-8558);
// one published on an address answers on that address only. A port
// published on every address answers on every address of the node, a
// second address of the uplink included, as Docker's DNAT (--dst-type
// LOCAL) does (issue 19, point 11), and on loopback for the node.
func TestPublishBoundAddress(t *testing.T) {
	t.Parallel()
	w, srv, udp := srvWorld(t, "peer")
	peer := w.Name("peer")
	w.MustExec(w.Node, "ip", "addr", "add", "198.51.100.3/24", "dev", world.UplinkDev)
	w.MustCLI("publish", srv, "127.0.0.1:8081:80", "127.0.0.1:5354:53/udp", "198.51.100.1:8082:80",
		"8083:80", "198.51.100.3:8084:80")
	for _, c := range []struct {
		name, netns string
		inCgroup    bool
		proto, addr string
		reach       bool
	}{
		{"loopback from node", w.Node, true, "tcp", "127.0.0.1:8081", true},
		{"loopback udp from node", w.Node, true, "udp", "127.0.0.1:5354", true},
		{"loopback on uplink from node", w.Node, true, "tcp", "198.51.100.1:8081", false},
		{"loopback from ext", w.Ext, false, "tcp", "198.51.100.1:8081", false},
		{"loopback udp from ext", w.Ext, false, "udp", "198.51.100.1:5354", false},
		{"loopback from endpoint", peer, false, "tcp", "198.51.100.1:8081", false},
		{"loopback from endpoint via gateway", peer, false, "tcp", "10.10.0.1:8081", false},
		{"uplink from ext", w.Ext, false, "tcp", "198.51.100.1:8082", true},
		{"uplink on second address from ext", w.Ext, false, "tcp", "198.51.100.3:8082", false},
		{"uplink on loopback from node", w.Node, true, "tcp", "127.0.0.1:8082", false},
		{"uplink from node", w.Node, true, "tcp", "198.51.100.1:8082", true},
		{"every address from ext", w.Ext, false, "tcp", "198.51.100.1:8083", true},
		{"every address, second address from ext", w.Ext, false, "tcp", "198.51.100.3:8083", true},
		{"every address, second address from node", w.Node, true, "tcp", "198.51.100.3:8083", true},
		{"every address, second address from endpoint", peer, false, "tcp", "198.51.100.3:8083", true},
		{"second address from ext", w.Ext, false, "tcp", "198.51.100.3:8084", true},
		{"second address, on the first from ext", w.Ext, false, "tcp", "198.51.100.1:8084", false},
		{"second address from node", w.Node, true, "tcp", "198.51.100.3:8084", true},
		{"second address from endpoint", peer, false, "tcp", "198.51.100.3:8084", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.reach {
				mustReach(t, w, c.netns, c.inCgroup, c.proto, c.addr, "srv ", c.addr)
			} else {
				mustNotReach(t, w, c.netns, c.inCgroup, c.proto, c.addr)
			}
		})
	}
	// Raw frames: no kernel would route 127.0.0.1 out of a device.
	upMAC := links(t, w, w.Node)[world.UplinkDev].Addr
	w.MustExec(peer, "ping", "-c", "1", "-W", "1", "10.10.0.1")
	gwMAC := neighMAC(t, w, peer, "10.10.0.1")
	for _, c := range []struct{ name, netns, dev, mac, src string }{
		{"frames to 127.0.0.1 from ext", w.Ext, world.ExtDev, upMAC, "198.51.100.2:40000"},
		{"frames to 127.0.0.1 from endpoint", peer, "eth0", gwMAC, "10.10.0.3:40000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := udp.settled()
			mustProbe(t, w, c.netns, "raw", c.dev, c.mac, c.src, "127.0.0.1:5354")
			time.Sleep(200 * time.Millisecond)
			if n := udp.count() - before; n != 0 {
				t.Errorf("%d of 5 datagrams sent to 127.0.0.1:5354 reached the endpoint", n)
			}
		})
	}
}

// A daemon restart keeps publications: forwarding goes on while it is
// down, and once it is back enet_ports holds the same entries, the host
// ports are still held, and the node's own connections are rewritten.
func TestPublishRestart(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t)
	w.MustCLI("publish", srv, "8080:80", "127.0.0.1:8081:80", "5353:53/udp")
	ports, bpf := portsOf(t, w), bpfPortsOf(t, w)
	w.StopDaemon()
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
	w.StartDaemon()
	if got := portsOf(t, w); !reflect.DeepEqual(got, ports) {
		t.Errorf("after restart, ports %v, want %v", got, ports)
	}
	if got := bpfPortsOf(t, w); !reflect.DeepEqual(got, bpf) {
		t.Errorf("after restart, enet_ports %v, want %v", got, bpf)
	}
	for _, c := range []struct{ proto, addr string }{
		{"tcp", "0.0.0.0:8080"}, {"tcp", "127.0.0.1:8081"}, {"udp", "0.0.0.0:5353"},
	} {
		if err := probeCmd(w, w.Node, false, "bind", c.proto, c.addr).Run(); err == nil {
			t.Errorf("after restart, a node socket can take the published %s/%s", c.addr, c.proto)
		}
	}
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
	mustReach(t, w, w.Ext, false, "udp", "198.51.100.1:5353", "srv 198.51.100.2:", "198.51.100.1:5353")
	mustReach(t, w, w.Node, true, "tcp", "127.0.0.1:8081", "srv ", "127.0.0.1:8081")
	w.MustCLI("publish", srv, "8082:80")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8082", "srv 198.51.100.2:", "198.51.100.1:8082")
	w.MustCLI("unpublish", srv, "8080:80")
	mustNotReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080")
}

// TestDisconnectMovesPublications: publications lead to the endpoint's
// first interface; when it is disconnected they follow the next one, and
// an endpoint that takes the old address over gets none of their
// traffic. With no interface left, they are parked: listed, leading
// nowhere, in no map.
func TestDisconnectMovesPublications(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t)
	w.MustCLI("network", "create", "other", "--subnet", "10.11.0.0/24")
	w.MustCLI("network", "connect", "other", srv)
	w.MustCLI("publish", srv, "8080:80")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")

	w.MustCLI("network", "disconnect", "web", srv)
	mustBeConsistent(t, w)
	if got := bpfPortsOf(t, w); len(got) != 1 || got[0].Target != "10.11.0.2:80" {
		t.Fatalf("enet_ports after disconnecting the first interface: %+v, want 8080 -> 10.11.0.2:80", got)
	}
	thief := w.Name("thief")
	w.MustCLI("endpoint", "create", thief, "--network", "web", "--ip", "10.10.0.2")
	serve(t, w, thief, "tcp", ":80", "thief")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")

	w.MustCLI("network", "disconnect", "other", srv)
	mustBeConsistent(t, w)
	if got := portsOf(t, w); len(got) != 1 || got[0].Target != "" {
		t.Fatalf("publications of an endpoint with no interface left: %+v, want one parked, leading nowhere", got)
	}
	mustNotReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080")
}
