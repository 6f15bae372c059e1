package bpftest

import (
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

const ctFull = loader.EnetReasonREASON_DROP_CT_FULL

// TestFlowRollback: when a new flow's reply entry is written but its
// forward or conntrack entry is refused, the reply entry goes too, so no
// flow is left with one direction and its port stays free; the packet is
// dropped and counted as drop-ct-full. A non-LRU map that is full stands
// for the refusal: the LRU maps evict instead.
func TestFlowRollback(t *testing.T) {
	ns := NewNetns(t, setupNode)
	// fullOne makes one of the maps new flows go to a plain hash of one
	// entry, the other flow maps as small as Load makes them.
	fullOne := func(name string) *Datapath {
		return LoadEdited(t, func(specs map[string]*ebpf.MapSpec) {
			specs[loader.MapEnetCt].MaxEntries, specs[loader.MapEnetNat].MaxEntries = 1024, 2048
			specs[loader.MapEnetCtNew].MaxEntries, specs[loader.MapEnetNatNew].MaxEntries = 256, 512
			specs[name].Type, specs[name].MaxEntries = ebpf.Hash, 1
		})
	}
	natOne, ctOne := fullOne(loader.MapEnetNatNew), fullOne(loader.MapEnetCtNew)
	udp := out(m1, remote).udp(40001, 53)
	published := in(remote, snatIP).udp(40001, 5353)
	cases := []struct {
		name  string
		d     *Datapath
		prior func(n *node) // fills what is to be full
		run   func(n *node)
	}{
		{"masquerade, forward entry refused", natOne, func(*node) {},
			func(n *node) { checkOut(n.t, n.fromEp(m1, udp, shot(ctFull)), udp) }},
		{"masquerade, conntrack entry refused", ctOne, start2,
			func(n *node) { checkOut(n.t, n.fromEp(m1, udp, shot(ctFull)), udp) }},
		{"published port, forward entry refused", natOne, func(*node) {},
			func(n *node) { checkOut(n.t, n.fromUp(published, shot(ctFull)), published) }},
		{"published port, conntrack entry refused", ctOne, start2,
			func(n *node) { checkOut(n.t, n.fromUp(published, shot(ctFull)), published) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := (&nodeWorld{ns: ns, d: tc.d}).node(t)
			n.publish()
			tc.prior(n)
			before := n.tables()
			tc.run(n)
			if after := n.tables(); !slices.Equal(after, before) {
				t.Errorf("maps hold\n\t%v\nwant, as before the packet,\n\t%v", after, before)
			}
		})
	}
}
