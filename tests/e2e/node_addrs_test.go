package e2e

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestPublishEveryAddress (issue 19, point 11): a port published on
// 0.0.0.0 answers on every address of the node, as Docker's does: a second
// address of the uplink and another device's, added after the port was
// published, from ext; the gateways and those addresses from the node's
// own sockets and from endpoints. Its address gone, the port no longer
// answers there; a port published on one address stays on it.
func TestPublishEveryAddress(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t, "peer")
	w.MustCLI("network", "create", "other", "--subnet", "10.20.0.0/24")
	peer, far := w.Name("peer"), w.Name("far")
	w.MustCLI("endpoint", "create", far, "--network", "other")
	w.MustCLI("publish", srv, "8083:80", "5355:53/udp", "198.51.100.1:8084:80")
	// A second address on the uplink, and a device of the node's own that
	// ext reaches through the node.
	w.MustExec(w.Node, "ip", "addr", "add", "198.51.100.3/24", "dev", world.UplinkDev)
	w.MustExec(w.Node, "ip", "link", "add", "side0", "type", "veth", "peer", "name", "side1")
	w.MustExec(w.Node, "ip", "addr", "add", "192.0.2.1/24", "dev", "side0")
	w.MustExec(w.Node, "ip", "link", "set", "side0", "up")
	w.MustExec(w.Ext, "ip", "route", "add", "192.0.2.0/24", "via", world.NodeIP.String())
	want := []string{"10.10.0.1", "10.20.0.1", "127.0.0.1", "192.0.2.1", "198.51.100.1", "198.51.100.3"}
	if !world.Wait(5*time.Second, func() bool { return hasNodeAddrs(t, w, want...) }) {
		t.Fatalf("enet_node_addrs holds %v, want %v among them", nodeAddrs(t, w), want)
	}
	for _, c := range []struct {
		name, netns string
		inCgroup    bool
		proto, addr string
	}{
		{"second uplink address from ext", w.Ext, false, "tcp", "198.51.100.3:8083"},
		{"second uplink address from ext, udp", w.Ext, false, "udp", "198.51.100.3:5355"},
		{"another device's address from ext", w.Ext, false, "tcp", "192.0.2.1:8083"},
		{"gateway from the node", w.Node, true, "tcp", "10.10.0.1:8083"},
		{"other gateway from the node, udp", w.Node, true, "udp", "10.20.0.1:5355"},
		{"another device's address from the node", w.Node, true, "tcp", "192.0.2.1:8083"},
		{"second uplink address from the node", w.Node, true, "tcp", "198.51.100.3:8083"},
		{"another device's address from an endpoint", peer, false, "tcp", "192.0.2.1:8083"},
		{"other network's gateway from an endpoint", peer, false, "tcp", "10.20.0.1:8083"},
		{"gateway from another network's endpoint", far, false, "udp", "10.10.0.1:5355"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mustReach(t, w, c.netns, c.inCgroup, c.proto, c.addr, "srv ", c.addr)
		})
	}
	t.Run("published on one address", func(t *testing.T) {
		mustNotReach(t, w, w.Ext, false, "tcp", "198.51.100.3:8084")
		mustNotReach(t, w, w.Ext, false, "tcp", "192.0.2.1:8084")
		mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8084", "srv ", "198.51.100.1:8084")
	})
	t.Run("address removed", func(t *testing.T) {
		w.MustExec(w.Node, "ip", "addr", "del", "192.0.2.1/24", "dev", "side0")
		if !world.Wait(5*time.Second, func() bool { return !slices.Contains(nodeAddrs(t, w), "192.0.2.1") }) {
			t.Fatalf("enet_node_addrs still holds 192.0.2.1: %v", nodeAddrs(t, w))
		}
		mustNotReach(t, w, w.Ext, false, "tcp", "192.0.2.1:8083")
	})
}

// nodeAddrs lists enet_node_addrs, sorted.
func nodeAddrs(t *testing.T, w *world.World) []string {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(w.BPFFS, loader.EnetMapEnetNodeAddrs), nil)
	if err != nil {
		t.Fatalf("open enet_node_addrs: %v", err)
	}
	defer m.Close()
	all, err := maps.NodeAddrs{Map: m}.All()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for a := range all {
		out = append(out, a.String())
	}
	slices.SortFunc(out, func(a, b string) int {
		return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
	})
	return out
}

func hasNodeAddrs(t *testing.T, w *world.World, want ...string) bool {
	t.Helper()
	have := nodeAddrs(t, w)
	for _, a := range want {
		if !slices.Contains(have, a) {
			return false
		}
	}
	return true
}
