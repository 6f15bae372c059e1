package bpftest

import (
	"bytes"
	"testing"
)

// enetMarkOut is ENET_MARK_OUT (bpf/lib/fib.h): what the datapath marks the
// packets it redirects out of the uplink with.
const enetMarkOut = 0x454e0000

// TestToUplink: the node's own packets out of the uplink are recorded as
// host flows, so masquerade never takes their tuples; a connection the
// node opens on a tuple a masqueraded flow holds gets another source port.
func TestToUplink(t *testing.T) {
	w := newNodeWorld(t)
	var (
		syn1    = out(m1, remote).tcp(40000, 80, tcpSYN)
		nodeSyn = host(remote).tcp(40000, 80, tcpSYN)
		nodeAck = host(remote).tcp(40000, 80, tcpACK)
		nodeUDP = host(remote).udp(5353, 53)
		nodePng = host(remote).echo(9)
		withM1  = func(n *node) { n.narrowPorts(); n.fromEp(m1, syn1, snatOut) }
	)
	cases := []struct {
		name  string
		setup func(n *node)
		in    pkt
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"TCP connect recorded", nil, nodeSyn, pkt{}, []flow{hostFlowOf(nodeSyn, 40000)}},
		{"UDP recorded", nil, nodeUDP, pkt{}, []flow{hostFlowOf(nodeUDP, 5353)}},
		{"ICMP echo recorded", nil, nodePng, pkt{}, []flow{hostFlowOf(nodePng, 9)}},
		{"TCP connect on a masqueraded flow's tuple gets another port", withM1,
			nodeSyn, nodeSyn.withSport(portMin), []flow{masqFlow(m1, syn1, 40000), hostFlowOf(nodeSyn, portMin)}},
		{"next packet of a connect that changed port", func(n *node) { withM1(n); n.toUp(nodeSyn, hostPass) },
			nodeAck, nodeAck.withSport(portMin), []flow{masqFlow(m1, syn1, 40000), hostFlowOf(nodeSyn, portMin)}},
		{"TCP without SYN on a masqueraded flow's tuple passes untouched", withM1,
			nodeAck, pkt{}, []flow{masqFlow(m1, syn1, 40000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			r := n.toUp(tc.in, hostPass)
			want := tc.out
			if !want.src.IsValid() {
				want = tc.in
			}
			checkOut(t, r, want)
			n.checkFlows(tc.flows...)
		})
	}
}

// TestToUplinkUncounted: what enet_to_up leaves alone passes as it is,
// neither counted nor traced nor recorded: what the datapath itself sent
// (its mark cleared, so it does not leak into the node's routing), packets
// the node forwards for others, and the node's ICMP errors.
func TestToUplinkUncounted(t *testing.T) {
	w := newNodeWorld(t)
	cases := []struct {
		name     string
		in       pkt
		mark     uint32
		wantMark uint32
	}{
		{"sent by the datapath", out(m1, remote).udp(40000, 53).masqueraded(40000), enetMarkOut, 0},
		{"forwarded by the node", out(r1, remote).udp(40000, 53).routed(), 7, 7},
		{"the node's ICMP error", host(remote).icmpError(3, 3, 0, quote(t, in(remote, snatIP).udp(53, 9), 28)), 7, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			frame := tc.in.bytes(t)
			r := n.RunSkb(n.EnetToUp, SkBuff{Ifindex: uplinkIdx, Mark: tc.mark}, frame)
			if r.Ret != ActOK || r.Skb.Mark != tc.wantMark {
				t.Errorf("return code %d, mark %#x; want %d, %#x", r.Ret, r.Skb.Mark, ActOK, tc.wantMark)
			}
			if !bytes.Equal(r.Packet, frame) {
				t.Errorf("packet out\n%x\nwant\n%x", r.Packet, frame)
			}
			if len(r.Events) != 0 || len(n.Counters()) != 0 {
				t.Errorf("events %+v, counters %+v; want none", r.Events, n.Counters())
			}
			n.checkFlows()
		})
	}
}
