package bpftest

import (
	"bytes"
	"testing"
)

// fromGw is a packet the node sends into e's bridge from e's gateway, as
// its own connections to e go.
func fromGw(e Endpoint) pkt {
	n := networkOf(e)
	return pkt{srcMAC: n.GatewayMAC, dstMAC: e.MAC, src: n.Gateway, dst: e.IP, ttl: 64}
}

// nodeFlow is a flow of the node's own to m1, p as sent from port: it
// belongs to m1's host veth, so it goes when m1 does.
func nodeFlow(p pkt, port uint16) flow {
	f := hostFlowOf(p, port)
	f.ifindex = m1.Ifindex
	return f
}

// toBr runs enet_to_br on p as the node sends it into e's bridge.
func (n *node) toBr(e Endpoint, p pkt, want verdict) Result {
	n.t.Helper()
	br := int(networkOf(e).BridgeIfindex)
	return n.step(n.EnetToBr, SkBuff{Ifindex: uint32(br)}, br, p.bytes(n.t), want)
}

// TestToBridge: the node's own flows to an endpoint from the network's
// gateway are recorded, as those out of the uplink are (TestToUplink):
// a hairpin flow takes the gateway as its source, so a connection of the
// node's own on a hairpin flow's tuple gets another source port, a
// hairpin flow on a node connection's tuple gets another one too, and the
// endpoint's answers reach the one they belong to.
func TestToBridge(t *testing.T) {
	w := newNodeWorld(t)
	var (
		nodeSyn  = fromGw(m1).tcp(40000, 80, tcpSYN)
		nodeAck  = fromGw(m1).tcp(40000, 80, tcpACK)
		nodeUDP  = fromGw(m1).udp(40000, 53)
		fromM2   = out(m2, snatIP).tcp(40000, 8080, tcpSYN) // hairpinned to m1:80 from the gateway's 40000
		answer   = out(m1, masqNet.Gateway).tcp(80, 40000, tcpSYN|tcpACK)
		hairpin  = func(n *node) { n.narrowPorts(); n.fromEp(m2, fromM2, hairpinTo(m1)) }
		recorded = func(n *node) { n.narrowPorts(); n.toBr(m1, nodeSyn, hostPass) }
		moved    = func(n *node) { hairpin(n); n.toBr(m1, nodeSyn, hostPass) }
	)
	cases := []struct {
		name  string
		setup func(n *node)
		run   func(n *node, p pkt) Result
		in    pkt
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"TCP connect recorded", nil, toBrPass, nodeSyn, pkt{}, []flow{nodeFlow(nodeSyn, 40000)}},
		{"UDP recorded", nil, toBrPass, nodeUDP, pkt{}, []flow{nodeFlow(nodeUDP, 40000)}},
		{"connect on a hairpin flow's tuple gets another port", hairpin, toBrPass, nodeSyn, nodeSyn.withSport(portMin),
			[]flow{hairpinFlow(m1, fromM2, 40000, 80), nodeFlow(nodeSyn, portMin)}},
		{"next packet of a connect that changed port", moved, toBrPass, nodeAck, nodeAck.withSport(portMin),
			[]flow{hairpinFlow(m1, fromM2, 40000, 80), nodeFlow(nodeSyn, portMin)}},
		{"the endpoint's answer to it, given back its port", moved, fromM1ToStack, answer.withDport(portMin), answer,
			[]flow{hairpinFlow(m1, fromM2, 40000, 80), nodeFlow(nodeSyn, portMin)}},
		{"the endpoint's answer to a connect that kept its port", recorded, fromM1ToStack, answer, pkt{},
			[]flow{nodeFlow(nodeSyn, 40000)}},
		{"hairpin flow on a node connection's tuple gets another port", recorded, fromM2Hairpin, fromM2,
			fromM2.hairpinned(m1, portMin, 80), []flow{nodeFlow(nodeSyn, 40000), hairpinFlow(m1, fromM2, portMin, 80)}},
		{"the hairpin flow's answer", func(n *node) { recorded(n); n.fromEp(m2, fromM2, hairpinTo(m1)) },
			func(n *node, p pkt) Result { return n.fromEp(m1, p, hairpinTo(m2)) }, answer.withDport(portMin),
			answer.delivered(m2, 40000).from(snatIP, 8080),
			[]flow{nodeFlow(nodeSyn, 40000), hairpinFlow(m1, fromM2, portMin, 80)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(tc.run(n, tc.in), tc.in, tc.out, tc.flows)
		})
	}
}

func toBrPass(n *node, p pkt) Result      { return n.toBr(m1, p, hostPass) }
func fromM1ToStack(n *node, p pkt) Result { return n.fromEp(m1, p, toStack) }
func fromM2Hairpin(n *node, p pkt) Result { return n.fromEp(m2, p, hairpinTo(m1)) }

// TestToBridgeUncounted: what no hairpin flow can clash with passes as it
// is, neither counted nor recorded: from another address than the
// gateway, to an address that is no endpoint, a protocol no port is
// published for, an internal network's, a later fragment; and what the
// datapath sent itself, its mark cleared.
func TestToBridgeUncounted(t *testing.T) {
	w := newNodeWorld(t)
	later := frags(t, fromGw(m1).udp(40000, 53).big())[1]
	cases := []struct {
		name     string
		frame    []byte
		mark     uint32
		wantMark uint32
	}{
		{"from another node address", fromGw(m1).from(snatIP, 40000).tcp(40000, 80, tcpSYN).bytes(t), 7, 7},
		{"to no endpoint", fromGw(m1).to(addr("10.10.0.99"), 80).tcp(40000, 80, tcpSYN).bytes(t), 0, 0},
		{"ICMP echo", fromGw(m1).echo(9).bytes(t), 0, 0},
		{"to an internal network's endpoint", fromGw(i1).tcp(40000, 80, tcpSYN).bytes(t), 0, 0},
		{"later fragment", later, 0, 0},
		{"sent by the datapath", fromGw(m1).tcp(40000, 80, tcpSYN).bytes(t), enetMarkOut, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			r := n.RunSkb(n.EnetToBr, SkBuff{Ifindex: uint32(masqNet.BridgeIfindex), Mark: tc.mark}, tc.frame)
			if r.Ret != ActOK || r.Skb.Mark != tc.wantMark {
				t.Errorf("return code %d, mark %#x; want %d, %#x", r.Ret, r.Skb.Mark, ActOK, tc.wantMark)
			}
			if !bytes.Equal(r.Packet, tc.frame) {
				t.Errorf("packet out\n%x\nwant\n%x", r.Packet, tc.frame)
			}
			if len(r.Events) != 0 || len(n.Counters()) != 0 {
				t.Errorf("events %+v, counters %+v; want none", r.Events, n.Counters())
			}
			n.checkFlows()
		})
	}
}
