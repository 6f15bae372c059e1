package bpftest

import (
	"slices"
	"testing"

	"github.com/ebpfnet/ebpfnet/maps"
)

// TestSourcePorts: a flow keeps its source port (or echo identifier) when
// the node's address has it free towards that destination, else it gets
// one at random from the configured range; with the range used up the
// packet is dropped, counted, and nothing is written.
func TestSourcePorts(t *testing.T) {
	w := newNodeWorld(t)
	var (
		udp1    = out(m1, remote).udp(40000, 53)
		udp2    = out(m2, remote).udp(40000, 53)
		nodeUDP = host(remote).udp(40000, 53)
	)
	cases := []struct {
		name  string
		setup func(n *node)
		from  Endpoint
		in    pkt
		prior []flow // the flows setup made
	}{
		{"taken by another endpoint's flow", func(n *node) { n.fromEp(m1, udp1, snatOut) },
			m2, udp2, []flow{masqFlow(m1, udp1, 40000)}},
		{"taken by the node's own flow", func(n *node) { n.toUp(nodeUDP, hostPass) },
			m1, udp1, []flow{hostFlowOf(nodeUDP, 40000)}},
		{"echo identifier taken", func(n *node) { n.fromEp(m1, out(m1, remote).echo(7), snatOut) },
			m2, out(m2, remote).echo(7), []flow{masqFlow(m1, out(m1, remote).echo(7), 7)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			tc.setup(n)
			r := n.fromEp(tc.from, tc.in, snatOut)
			port := sourcePort(r.Packet)
			if port < portMin || port > portMax {
				t.Fatalf("left from port %d, want one in [%d, %d]", port, portMin, portMax)
			}
			checkOut(t, r, tc.in.masqueraded(port))
			n.checkFlows(append(slices.Clone(tc.prior), masqFlow(tc.from, tc.in, port))...)
			// The reply to the new port finds its way back.
			back := tc.in.masqueraded(port).reply()
			checkOut(t, n.fromUp(back, replyTo(tc.from)), back.delivered(tc.from, tc.in.tuple().Src.Port()))
		})
	}
}

// TestSourcePortsExhausted: a range of one port, 61000, already held, and
// the packet's own port held too.
func TestSourcePortsExhausted(t *testing.T) {
	w := newNodeWorld(t)
	n := w.node(t)
	n.narrowPorts()
	udp1, udp1b := out(m1, remote).udp(40000, 53), out(m1, remote).udp(portMin, 53)
	n.fromEp(m1, udp1, snatOut)
	n.fromEp(m1, udp1b, snatOut)
	before := n.tables()
	udp2 := out(m2, remote).udp(40000, 53)
	checkOut(t, n.fromEp(m2, udp2, shot(exhausted)), udp2)
	n.checkFlows(masqFlow(m1, udp1, 40000), masqFlow(m1, udp1b, portMin))
	if after := n.tables(); !slices.Equal(after, before) {
		t.Errorf("maps changed: %v, were %v", after, before)
	}
	// Once a flow is gone, as the GC removes it, its port is free again.
	f := masqFlow(m1, udp1b, portMin)
	for _, tr := range f.translations() {
		must(t, n.Maps.NAT.Delete(tr.Tuple))
	}
	n.forgetCT(f.orig)
	checkOut(t, n.fromEp(m2, udp2, snatOut), udp2.masqueraded(portMin))
}

// TestSourcePortsOfDeadFlows: a port held by a flow that is dead (expired,
// or its conntrack entry evicted) is taken over at once by a new flow
// that wants it, without waiting for the GC.
func TestSourcePortsOfDeadFlows(t *testing.T) {
	w := newNodeWorld(t)
	udp1 := out(m1, remote).udp(40000, 53)
	udp2 := out(m2, remote).udp(40000, 53)
	cases := []struct {
		name string
		kill func(n *node)
	}{
		{"expired", func(n *node) { n.expire(udp1.tuple()) }},
		{"conntrack entry gone", func(n *node) { n.forgetCT(udp1.tuple()) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.narrowPorts()
			n.fromEp(m1, udp1, snatOut)
			tc.kill(n)
			checkOut(t, n.fromEp(m2, udp2, snatOut), udp2.masqueraded(40000))
			n.checkFlows(masqFlow(m2, udp2, 40000))
		})
	}
}

// TestSourcePortSearch: with every port of the range but one held towards
// a destination, a new flow that cannot keep its own port gets that last
// one, whether it is free or held by a dead flow, found by walking the
// range after the random tries; only when none is left is the packet
// dropped as exhausted. The held ports here are replies of other flows'
// translations, as many as the range has.
func TestSourcePortSearch(t *testing.T) {
	const searchMax = portMin + 299
	w := newNodeWorld(t)
	var (
		holder = out(m1, remote).udp(40000, 53) // a live flow the held ports point at
		udp2   = out(m2, remote).udp(40000, 53) // 40000 is holder's
		udp3   = out(m2, remote).udp(40001, 53) // 40001 is held too
		dead   = out(m1, remote).udp(39999, 53).tuple()
	)
	cases := []struct {
		name string
		last uint16
		by   maps.Tuple // the flow holding the last port; zero: none
	}{
		{"last port free", searchMax - 17, maps.Tuple{}},
		{"last port held by a dead flow", portMin + 3, dead},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			// A range whose held ports fit enet_nat_new, where the
			// translations of a flow not assured yet live.
			c := nodeConfig()
			c.PortMax = searchMax
			n.SetConfig(c)
			n.fromEp(m1, holder, snatOut)
			n.holdPorts(holder, 40001, holder.tuple())
			for p := uint16(portMin); p <= searchMax; p++ {
				if p != tc.last {
					n.holdPorts(holder, p, holder.tuple())
				} else if tc.by.Src.IsValid() {
					n.holdPorts(holder, p, tc.by)
				}
			}
			checkOut(t, n.fromEp(m2, udp2, snatOut), udp2.masqueraded(tc.last))
			if got := n.counter(m2.Ifindex, exhausted); got.Packets != 0 {
				t.Errorf("drop-nat-ports-exhausted counts %d packets, want 0", got.Packets)
			}
			before := n.tables()
			checkOut(t, n.fromEp(m2, udp3, shot(exhausted)), udp3)
			if after := n.tables(); !slices.Equal(after, before) {
				t.Errorf("maps changed with the refused flow")
			}
			back := udp2.masqueraded(tc.last).reply()
			checkOut(t, n.fromUp(back, replyTo(m2)), back.delivered(m2, 40000))
		})
	}
}

// holdPorts writes the reply translation of a flow like p leaving from
// port, owned by the flow flow: the port is held for p's destination
// while that flow lives.
func (n *node) holdPorts(p pkt, port uint16, flow maps.Tuple) {
	n.t.Helper()
	sent := p.masqueraded(port).tuple()
	must(n.t, n.Maps.NAT.Restore(maps.Translation{Tuple: sent.Reverse(), To: p.tuple().Reverse(), Flow: flow, Reply: true}))
	if _, ok, err := n.Maps.NAT.Get(sent.Reverse()); err != nil || !ok {
		n.t.Fatalf("hold port %d: %v, written %t", port, err, ok)
	}
}
