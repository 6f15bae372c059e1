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
	ifindex  int               // the endpoint's host veth; 0 for the node's flows
	kind     loader.EnetCtFlag // its conntrack flags among flowKinds
	assured  bool              // in enet_ct and enet_nat, not the _new maps
}

// assure is f once assured.
func (f flow) assure() flow {
	f.assured = true
	return f
}

// flowKinds are the conntrack flags that say what a flow is; the others
// (CT_F_SEEN_REPLY) change over its life.
const flowKinds = loader.EnetCtFlagCT_F_HOST | loader.EnetCtFlagCT_F_SNAT | loader.EnetCtFlagCT_F_DNAT

func masqFlow(e Endpoint, p pkt, port uint16) flow {
	return flow{orig: p.tuple(), to: p.masqueraded(port).tuple(), ifindex: e.Ifindex, kind: loader.EnetCtFlagCT_F_SNAT}
}

func hostFlowOf(p pkt, port uint16) flow {
	return flow{orig: p.tuple(), to: p.withSport(port).tuple(), kind: loader.EnetCtFlagCT_F_HOST}
}

// translations are the flow's two enet_nat entries, one per direction.
func (f flow) translations() []maps.Translation {
	host := f.kind == loader.EnetCtFlagCT_F_HOST
	return []maps.Translation{
		{Tuple: f.orig, To: f.to, Flow: f.orig, Host: host, Assured: f.assured},
		{Tuple: f.to.Reverse(), To: f.orig.Reverse(), Flow: f.orig, Reply: true, Host: host, Assured: f.assured},
	}
}

// checkFlows fails unless enet_nat and enet_ct hold exactly these flows.
func (n *node) checkFlows(fs ...flow) {
	n.t.Helper()
	var want []string
	for _, f := range fs {
		for _, tr := range f.translations() {
			want = append(want, fmt.Sprintf("nat %+v", tr))
		}
		want = append(want, fmt.Sprintf("ct %v reply %v ifindex %d kind %#x assured %t", f.orig, f.to.Reverse(), f.ifindex,
			f.kind, f.assured))
	}
	if got := n.tables(); !slices.Equal(got, sorted(want)) {
		n.t.Errorf("maps hold\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(sorted(want), "\n\t"))
	}
}

// tables is every enet_nat and enet_ct entry, sorted, as checkFlows
// writes them. A translation that carries its flow's CreatedNs is written
// without it, as checkFlows wants it; one of no flow, or of another life
// of its flow, keeps it and so never matches.
func (n *node) tables() []string {
	n.t.Helper()
	trs, err := n.Maps.NAT.All()
	must(n.t, err)
	cts, err := n.Maps.CT.All()
	must(n.t, err)
	created := map[maps.Tuple]uint64{}
	var out []string
	for _, f := range cts {
		created[f.Tuple] = f.CreatedNs
		assured := f.Assured
		if assured != (f.Flags&loader.EnetCtFlagCT_F_ASSURED != 0) {
			n.t.Errorf("flow %v in enet_ct%s has flags %#x", f.Tuple, map[bool]string{false: "_new"}[assured], f.Flags)
		}
		out = append(out, fmt.Sprintf("ct %v reply %v ifindex %d kind %#x assured %t", f.Tuple, f.Reply, f.Ifindex,
			f.Flags&flowKinds, assured))
	}
	for _, tr := range trs {
		if c, ok := created[tr.Flow]; ok && c == tr.CreatedNs {
			tr.CreatedNs = 0
		}
		out = append(out, fmt.Sprintf("nat %+v", tr))
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
	n.setExpiry(orig, 1)
}

// setExpiry sets when a flow expires, in CLOCK_MONOTONIC ns.
func (n *node) setExpiry(orig maps.Tuple, ns uint64) {
	n.t.Helper()
	f := n.flow(orig)
	f.ExpiresNs = ns
	_, _, err := n.Maps.CT.Take(orig)
	must(n.t, err)
	must(n.t, n.Maps.CT.Restore(f))
}

// translation is the enet_nat entry at t; the test fails without one.
func (n *node) translation(t maps.Tuple) maps.Translation {
	n.t.Helper()
	tr, ok, err := n.Maps.NAT.Get(t)
	must(n.t, err)
	if !ok {
		n.t.Fatalf("no translation for %v", t)
	}
	return tr
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

// checkRun fails unless the program's output is out, or in unchanged
// when out is zero, and enet_nat and enet_ct hold exactly flows.
func (n *node) checkRun(r Result, in, out pkt, flows []flow) {
	n.t.Helper()
	if !out.src.IsValid() {
		out = in
	}
	checkOut(n.t, r, out)
	n.checkFlows(flows...)
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
