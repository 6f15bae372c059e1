package e2e

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestNetworkCreateWithEveryOption(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "full", "--subnet", "10.20.0.0/24", "--gateway", "10.20.0.254",
		"--ip-range", "10.20.0.128/28", "--internal", "--opt", "icc=false", "--opt", "masquerade=false",
		"--mtu", "1400", "--bridge", "br-full", "--aux-address", "router2=10.20.0.129")

	n := inspectNetwork(t, w, "full")
	want := api.Network{
		Name: "full", ID: n.ID, Subnet: "10.20.0.0/24", Gateway: "10.20.0.254", IPRange: "10.20.0.128/28",
		Bridge: "br-full", MTU: 1400, Internal: true, Endpoints: []string{}, Driver: "bridge",
		AuxAddresses: map[string]string{"router2": "10.20.0.129"},
	}
	n.Created = want.Created
	if !equalJSON(n, want) {
		t.Fatalf("inspect full:\n got %+v\nwant %+v", n, want)
	}
	var listed *api.Network
	for _, l := range cliJSON[[]api.Network](t, w, "network", "ls", "--json") {
		if l.Name == "full" {
			listed = &l
		}
	}
	if listed == nil || listed.Bridge != "br-full" || listed.MTU != 1400 {
		t.Fatalf("network ls --json does not show full as inspect does: %+v", listed)
	}
	row := w.MustCLI("network", "ls")
	if !strings.Contains(row, "full") || !strings.Contains(row, "br-full") || !strings.Contains(row, "10.20.0.0/24") {
		t.Fatalf("network ls does not show full:\n%s", row)
	}
	for _, bn := range cliJSON[[]api.BPFNetwork](t, w, "bpf", "networks", "--json") {
		if bn.Network == "full" && (bn.ICC || !bn.Internal || bn.Masquerade || bn.Gateway != "10.20.0.254") {
			t.Fatalf("enet_networks holds %+v for full", bn)
		}
	}

	br := links(t, w, w.Node)["br-full"]
	if br.MTU != 1400 || br.Alias != "ebpfnet:network:full" {
		t.Fatalf("bridge br-full in the node: %+v", br)
	}
	if addr := w.MustExec(w.Node, "ip", "-4", "-o", "addr", "show", "dev", "br-full"); !strings.Contains(addr, " 10.20.0.254/24 ") {
		t.Fatalf("br-full does not hold the gateway:\n%s", addr)
	}

	rng := netip.MustParsePrefix("10.20.0.128/28")
	for _, name := range []string{w.Name("e1"), w.Name("e2")} {
		w.MustCLI("endpoint", "create", name, "--network", "full")
		ep := inspectEndpoint(t, w, name)
		if ip := netip.MustParseAddr(ep.Interfaces[0].IP); !rng.Contains(ip) {
			t.Fatalf("endpoint %s got %s, outside the ip-range %s", name, ip, rng)
		}
		if mtu := links(t, w, name)["eth0"].MTU; mtu != 1400 {
			t.Fatalf("eth0 in %s has MTU %d, want 1400", name, mtu)
		}
		host := links(t, w, w.Node)[ep.Interfaces[0].HostName]
		if host.MTU != 1400 || host.Master != "br-full" {
			t.Fatalf("host side of %s: %+v; want MTU 1400 on br-full", name, host)
		}
		if route := w.MustExec(name, "ip", "route", "show", "default"); !strings.Contains(route, "via 10.20.0.254 dev eth0") {
			t.Fatalf("default route of %s is not via the gateway:\n%s", name, route)
		}
	}
	// A static address may lie outside the range, anywhere in the subnet.
	w.MustCLI("endpoint", "create", w.Name("e3"), "--network", "full", "--ip", "10.20.0.10")
	mustPing(t, w, w.Name("e1"), "10.20.0.254")
}

func TestNetworkCreateErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "taken", "--subnet", "10.21.0.0/24", "--bridge", "br-taken")
	netsBefore := networkNames(t, w)
	linksBefore := linkNames(t, w, w.Node)

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"overlapping subnet", []string{"clash", "--subnet", "10.21.0.128/25"}, `overlaps network "taken"`},
		{"overlapped subnet", []string{"clash", "--subnet", "10.0.0.0/8"}, `overlaps network "taken"`},
		{"gateway outside the subnet", []string{"gw", "--subnet", "10.22.0.0/24", "--gateway", "10.23.0.1"}, "outside the subnet"},
		{"gateway is the broadcast", []string{"gw", "--subnet", "10.22.0.0/24", "--gateway", "10.22.0.255"}, "broadcast"},
		{"ip-range outside the subnet", []string{"rng", "--subnet", "10.22.0.0/24", "--ip-range", "10.22.1.0/28"}, "outside the subnet"},
		{"ip-range wider than the subnet", []string{"rng", "--subnet", "10.22.0.0/24", "--ip-range", "10.22.0.0/16"}, "outside the subnet"},
		{"bridge name over 15 bytes", []string{"long", "--subnet", "10.22.0.0/24", "--bridge", "br-0123456789abc"}, "longer than 15 bytes"},
		{"bridge of another network", []string{"dup-br", "--subnet", "10.22.0.0/24", "--bridge", "br-taken"}, "br-taken"},
		{"bridge name of a device", []string{"dev", "--subnet", "10.22.0.0/24", "--bridge", "up0"}, "already exists"},
		{"duplicate name", []string{"taken", "--subnet", "10.22.0.0/24"}, `network "taken" already exists`},
		{"bad subnet", []string{"bad", "--subnet", "10.22.0.1/24"}, "host bits set"},
		{"unknown option", []string{"opt", "--subnet", "10.22.0.0/24", "--opt", "foo=bar"}, "unknown network option"},
		{"mtu out of range", []string{"mtu", "--subnet", "10.22.0.0/24", "--mtu", "20"}, "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustFailCLI(t, w, tc.want, append([]string{"network", "create"}, tc.args...)...)
			if got := networkNames(t, w); got != netsBefore {
				t.Fatalf("networks after a refused create: %s, want %s", got, netsBefore)
			}
			if got := linkNames(t, w, w.Node); got != linksBefore {
				t.Fatalf("node devices after a refused create: %s, want %s", got, linksBefore)
			}
		})
	}
}

func networkNames(t *testing.T, w *world.World) string {
	t.Helper()
	var names []string
	for _, n := range cliJSON[[]api.Network](t, w, "network", "ls", "--json") {
		names = append(names, n.Name+"="+n.Subnet)
	}
	return strings.Join(names, " ")
}

func TestNetworkRemove(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "busy", "--subnet", "10.20.0.0/24", "--bridge", "br-busy")
	w.MustCLI("network", "create", "empty", "--subnet", "10.21.0.0/24", "--bridge", "br-empty")
	ep := w.Name("ep")
	w.MustCLI("endpoint", "create", ep, "--network", "busy")

	mustFailCLI(t, w, "has 1 endpoint(s): "+ep, "network", "rm", "busy")
	mustFailCLI(t, w, "default network and cannot be removed", "network", "rm", "bridge")
	mustFailCLI(t, w, `network "nope" not found`, "network", "rm", "nope")
	if _, ok := links(t, w, w.Node)["br-busy"]; !ok {
		t.Fatalf("a refused rm removed br-busy")
	}
	mustPing(t, w, ep, "10.20.0.1")

	w.MustCLI("network", "rm", "empty")
	if _, ok := links(t, w, w.Node)["br-empty"]; ok {
		t.Fatalf("network rm left the bridge br-empty")
	}
	mustFailCLI(t, w, `network "empty" not found`, "network", "inspect", "empty")
	for _, bn := range cliJSON[[]api.BPFNetwork](t, w, "bpf", "networks", "--json") {
		if bn.Subnet == "10.21.0.0/24" {
			t.Fatalf("enet_networks still holds the removed network: %+v", bn)
		}
	}
	// Its subnet is free again.
	w.MustCLI("network", "create", "again", "--subnet", "10.21.0.0/24")

	w.MustCLI("endpoint", "rm", ep)
	w.MustCLI("network", "rm", "busy")
	if _, ok := links(t, w, w.Node)["br-busy"]; ok {
		t.Fatalf("network rm left the bridge br-busy")
	}
}
