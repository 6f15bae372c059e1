package bpftest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// flow is what the datapath holds for one translated flow: packets first
// seen as orig leave as to.
type flow struct {
	orig, to maps.Tuple
	ifindex  int  // the endpoint's host veth; 0 for the node's flows
	host     bool // the node's own flow
}

func masqFlow(e Endpoint, p pkt, port uint16) flow {
	return flow{orig: p.tuple(), to: p.masqueraded(port).tuple(), ifindex: e.Ifindex}
}

func hostFlowOf(p pkt, port uint16) flow {
	return flow{orig: p.tuple(), to: p.withSport(port).tuple(), host: true}
}

// translations are the flow's two enet_nat entries, one per direction.
func (f flow) translations() []maps.Translation {
	return []maps.Translation{
		{Tuple: f.orig, To: f.to, Flow: f.orig, Host: f.host},
		{Tuple: f.to.Reverse(), To: f.orig.Reverse(), Flow: f.orig, Reply: true, Host: f.host},
	}
}

func (f flow) ctFlag() loader.EnetCtFlag {
	if f.host {
		return loader.EnetCtFlagCT_F_HOST
	}
	return loader.EnetCtFlagCT_F_SNAT
}

// checkFlows fails unless enet_nat and enet_ct hold exactly these flows.
func (n *node) checkFlows(fs ...flow) {
	n.t.Helper()
	var want []string
	for _, f := range fs {
		for _, tr := range f.translations() {
			want = append(want, fmt.Sprintf("nat %+v", tr))
		}
		want = append(want, fmt.Sprintf("ct %v reply %v ifindex %d host %t", f.orig, f.to.Reverse(), f.ifindex, f.host))
	}
	if got := n.tables(); !slices.Equal(got, sorted(want)) {
		n.t.Errorf("maps hold\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(sorted(want), "\n\t"))
	}
	for _, f := range fs {
		if ct := n.flow(f.orig); ct.Flags&(loader.EnetCtFlagCT_F_HOST|loader.EnetCtFlagCT_F_SNAT) != f.ctFlag() {
			n.t.Errorf("flow %v has flags %#x, want %#x", f.orig, ct.Flags, f.ctFlag())
		}
	}
}

// tables is every enet_nat and enet_ct entry, sorted, as checkFlows
// writes them.
func (n *node) tables() []string {
	n.t.Helper()
	trs, err := n.Maps.NAT.All()
	must(n.t, err)
	cts, err := n.Maps.CT.All()
	must(n.t, err)
	var out []string
	for _, tr := range trs {
		out = append(out, fmt.Sprintf("nat %+v", tr))
	}
	for _, f := range cts {
		out = append(out, fmt.Sprintf("ct %v reply %v ifindex %d host %t",
			f.Tuple, f.Reply, f.Ifindex, f.Flags&loader.EnetCtFlagCT_F_HOST != 0))
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// flow is the enet_ct entry of a flow; the test fails without one.
func (n *node) flow(orig maps.Tuple) maps.Flow {
	n.t.Helper()
	f, ok, err := n.Maps.CT.Get(orig)
	must(n.t, err)
	if !ok {
		n.t.Fatalf("no conntrack entry for %v", orig)
	}
	return f
}

// expire moves a flow's expiry into the past.
func (n *node) expire(orig maps.Tuple) {
	n.t.Helper()
	var v loader.EnetCtEntry
	k := orig.Key()
	must(n.t, n.EnetCt.Lookup(&k, &v))
	v.ExpiresNs = 1
	must(n.t, n.EnetCt.Put(&k, &v))
}

// forgetCT removes a flow's conntrack entry and leaves its translations,
// as an LRU eviction of enet_ct alone does.
func (n *node) forgetCT(orig maps.Tuple) {
	n.t.Helper()
	must(n.t, n.Maps.CT.Delete(orig))
}

// narrowPorts leaves one port, 61000, for source ports that must change,
// which makes the choice predictable.
func (n *node) narrowPorts() {
	c := nodeConfig()
	c.PortMin, c.PortMax = portMin, portMin
	n.SetConfig(c)
}

// monoNow is CLOCK_MONOTONIC, the datapath's bpf_ktime_get_ns.
func monoNow(t testing.TB) uint64 {
	var ts unix.Timespec
	must(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	return uint64(ts.Nano())
}

// checkExpiry fails unless f expires timeout seconds after a moment
// between before and after.
func checkExpiry(t testing.TB, f maps.Flow, before, after uint64, timeout uint64) {
	t.Helper()
	lo, hi := before+timeout*1e9, after+timeout*1e9
	if f.ExpiresNs < lo || f.ExpiresNs > hi {
		t.Errorf("flow expires at %d, want %ds from now: in [%d, %d]", f.ExpiresNs, timeout, lo, hi)
	}
}

// checkOut fails unless the program's output is want's frame, and every
// checksum in it verifies.
func checkOut(t testing.TB, r Result, want pkt) {
	t.Helper()
	w := want.bytes(t)
	if !bytes.Equal(r.Packet, w) {
		t.Errorf("packet out\n%x\nwant\n%x", r.Packet, w)
	}
	CheckChecksums(t, r.Packet)
}
