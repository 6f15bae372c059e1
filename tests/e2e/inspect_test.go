package e2e

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// newEndpoint creates an endpoint on a network and returns its address.
func newEndpoint(t *testing.T, w *world.World, name, network string) netip.Addr {
	t.Helper()
	w.MustCLI("endpoint", "create", name, "--network", network)
	ep := inspectEndpoint(t, w, name)
	if len(ep.Interfaces) != 1 {
		t.Fatalf("endpoint %s has %d interfaces, want 1", name, len(ep.Interfaces))
	}
	return netip.MustParseAddr(ep.Interfaces[0].IP)
}

// mapEntries is how many entries `ebpfnet status` says a map holds.
func mapEntries(t *testing.T, w *world.World, name string) int {
	t.Helper()
	for _, m := range cliJSON[api.Status](t, w, "status", "--json").Maps {
		if m.Name == name {
			return m.Entries
		}
	}
	t.Fatalf("ebpfnet status shows no map %s", name)
	return 0
}

// flowEntries is how many entries `ebpfnet status` says the conntrack
// maps (enet_ct, enet_ct_new) and the NAT maps (enet_nat, enet_nat_new)
// hold.
func flowEntries(t *testing.T, w *world.World) (ct, nat int) {
	t.Helper()
	for _, m := range cliJSON[api.Status](t, w, "status", "--json").Maps {
		switch m.Name {
		case "enet_ct", "enet_ct_new":
			ct += m.Entries
		case "enet_nat", "enet_nat_new":
			nat += m.Entries
		}
	}
	return ct, nat
}

// findFlow is the live flow `ebpfnet bpf ct` shows for a protocol and
// original source and destination.
func findFlow(t *testing.T, w *world.World, proto string, src, dst netip.AddrPort) (api.BPFFlow, bool) {
	t.Helper()
	for _, f := range cliJSON[[]api.BPFFlow](t, w, "bpf", "ct", "--json") {
		if f.Proto == proto && f.Src == src.String() && f.Dst == dst.String() {
			return f, true
		}
	}
	return api.BPFFlow{}, false
}

// noNetfilter fails the test if the node has any iptables or nftables
// rule (the world's ext netns, where nothing adds any, prints what an empty
// netns prints), or if the kernel's conntrack table holds a flow of any of
// addrs.
func noNetfilter(t *testing.T, w *world.World, when string, addrs ...netip.Addr) {
	t.Helper()
	for _, argv := range [][]string{{"iptables-save"}, {"nft", "list", "ruleset"}} {
		node, empty := w.MustExec(w.Node, argv...), w.MustExec(w.Ext, argv...)
		if node != empty || strings.TrimSpace(node) != "" {
			t.Fatalf("%s: %s in the node prints rules:\n%s\n(an empty netns prints %q)", when, argv[0], node, empty)
		}
	}
	ct := w.MustExec(w.Node, "conntrack", "-L")
	for _, a := range addrs {
		if strings.Contains(ct, "="+a.String()+" ") {
			t.Fatalf("%s: the kernel's conntrack table holds a flow of %s:\n%s", when, a, ct)
		}
	}
}

// natSource is the source `ebpfnet bpf nat` translates a flow's packets to.
func natSource(t *testing.T, w *world.World, proto string, src, dst netip.AddrPort) netip.AddrPort {
	t.Helper()
	for _, e := range cliJSON[[]api.BPFNAT](t, w, "bpf", "nat", "--json") {
		if e.Proto == proto && e.Direction == "original" && e.FromSrc == src.String() && e.FromDst == dst.String() {
			return netip.MustParseAddrPort(e.ToSrc)
		}
	}
	t.Fatalf("ebpfnet bpf nat has no %s translation for %s -> %s", proto, src, dst)
	return netip.AddrPort{}
}
