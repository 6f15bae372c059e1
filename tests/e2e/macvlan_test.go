package e2e

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 17: a macvlan network puts its endpoints straight on the LAN
// behind a parent device of the node, as Docker's macvlan driver does:
// their own addresses and MACs on the LAN, no NAT, no bridge, and no
// program of ebpfnet's on the parent.
func TestMacvlan(t *testing.T) {
	w := newWorld(t)
	lan := w.AddLAN()
	w.MustCLI("network", "create", "lan", "-d", "macvlan", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.1",
		"-o", "parent="+world.LANParentDev, "--ip-range", "192.0.2.32/27", "--aux-address", "printer=192.0.2.33")
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "lan")
	w.MustCLI("endpoint", "create", w.Name("b"), "--network", "lan", "--ip", "192.0.2.50", "--mac", "02:00:c0:00:02:32")
	a, b := epIP(t, w, "a", "lan"), epIP(t, w, "b", "lan")
	macA := inspectEndpoint(t, w, w.Name("a")).Interfaces[0].MAC

	t.Run("addresses come from the ip-range, past the aux-address", func(t *testing.T) {
		ip := netip.MustParseAddr(a)
		if !netip.MustParsePrefix("192.0.2.32/27").Contains(ip) || a == "192.0.2.33" {
			t.Fatalf("a got %s: want one of 192.0.2.32/27 other than the aux-address 192.0.2.33", a)
		}
		mustFailCLI(t, w, "reserved", "endpoint", "create", w.Name("c"), "--network", "lan", "--ip", "192.0.2.33")
	})
	t.Run("endpoints reach the LAN's host and router, and each other", func(t *testing.T) {
		mustPing(t, w, w.Name("a"), world.LANHostIP.String())
		mustPing(t, w, w.Name("a"), world.LANGateway.String())
		mustPing(t, w, w.Name("a"), b)
		if out := w.MustExec(w.Name("a"), "ip", "route", "show", "default"); !strings.Contains(out, "via 192.0.2.1 dev eth0") {
			t.Fatalf("a's default route: %s, want via the LAN's gateway 192.0.2.1", out)
		}
		noStub(t, w.Name("a"))
	})
	t.Run("on the LAN with their own address and MAC: no NAT", func(t *testing.T) {
		mustPing(t, w, w.Name("b"), world.LANHostIP.String())
		for ip, mac := range map[string]string{a: macA, b: "02:00:c0:00:02:32"} {
			got := w.MustExec(lan, "ip", "neigh", "show", ip)
			if !strings.Contains(got, "lladdr "+mac) {
				t.Errorf("the LAN knows %s as %q; want MAC %s", ip, got, mac)
			}
			if inside := links(t, w, endpointNetns(t, w, ip))["eth0"]; inside.Kind != "macvlan" || inside.Addr != mac {
				t.Errorf("eth0 of %s is %+v, want a macvlan with MAC %s", ip, inside, mac)
			}
		}
	})
	t.Run("no program of ebpfnet's on the parent", func(t *testing.T) {
		if out := w.MustExec(w.Node, "bpftool", "net", "show", "dev", world.LANParentDev); strings.Contains(out, "enet_") {
			t.Fatalf("programs on the parent:\n%s", out)
		}
	})
	t.Run("the node cannot reach its own macvlan endpoints through the parent", func(t *testing.T) {
		// macvlan hands the parent nothing its macvlans send each other or
		// it: Docker documents the same limit.
		mustNotPing(t, w, w.Node, a)
	})
	t.Run("publishing is refused: the endpoint is on the LAN directly", func(t *testing.T) {
		mustFailCLI(t, w, "on the LAN directly", "publish", w.Name("a"), "8080:80")
		mustFailCLI(t, w, "on the LAN directly", "endpoint", "create", w.Name("c"), "--network", "lan", "-p", "8080:80")
	})
	t.Run("a restart keeps the endpoints, their addresses and MACs", func(t *testing.T) {
		w.StopDaemon()
		w.StartDaemon()
		if got := inspectEndpoint(t, w, w.Name("a")); got.Interfaces[0].IP != a || got.Interfaces[0].MAC != macA {
			t.Fatalf("after a restart a is %+v, want %s %s", got.Interfaces, a, macA)
		}
		mustPing(t, w, w.Name("a"), world.LANHostIP.String())
		if n := inspectNetwork(t, w, "lan"); n.Driver != "macvlan" || n.Parent != world.LANParentDev || n.Mode != "bridge" {
			t.Fatalf("lan after a restart: %+v", n)
		}
	})
	t.Run("removal leaves nothing on the parent", func(t *testing.T) {
		w.MustCLI("endpoint", "rm", w.Name("a"), w.Name("b"))
		w.MustCLI("network", "rm", "lan")
		for _, l := range links(t, w, w.Node) {
			if l.Kind == "macvlan" || strings.HasPrefix(l.Alias, "ebpfnet:parent:") {
				t.Errorf("left in the node: %+v", l)
			}
		}
	})
}

// endpointNetns is the namespace (by name) of the endpoint holding ip.
func endpointNetns(t *testing.T, w *world.World, ip string) string {
	t.Helper()
	for _, e := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
		for _, i := range e.Interfaces {
			if i.IP == ip {
				return strings.TrimPrefix(e.Netns, "/run/netns/")
			}
		}
	}
	t.Fatalf("no endpoint has %s", ip)
	return ""
}
