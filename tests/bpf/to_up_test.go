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
		udp1    = out(m1, remote).udp(5353, 53)
		png1    = out(m1, remote).echo(9)
		withUDP = func(n *node) { n.narrowPorts(); n.fromEp(m1, udp1, snatOut) }
		withPng = func(n *node) { n.narrowPorts(); n.fromEp(m1, png1, snatOut) }
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
		// Kept, their replies would reach the endpoint.
		{"UDP on a masqueraded flow's tuple gets another port", withUDP,
			nodeUDP, nodeUDP.withSport(portMin), []flow{masqFlow(m1, udp1, 5353), hostFlowOf(nodeUDP, portMin)}},
		{"echo request on a masqueraded flow's id gets another id", withPng,
			nodePng, nodePng.withSport(portMin), []flow{masqFlow(m1, png1, 9), hostFlowOf(nodePng, portMin)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(n.toUp(tc.in, hostPass), tc.in, tc.out, tc.flows)
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

// TestToUplinkRoutedByKernel: an endpoint's packet that enet_from_ep left
// to the kernel, its next hop unresolved, leaves translated by its flow's
// entry, neither counted in its flow twice nor rewritten for a flow it
// has not; a masquerading or internal network's endpoint never leaves
// with its own address. What the kernel routes for a routed network's
// endpoints passes (TestToUplinkUncounted).
func TestToUplinkRoutedByKernel(t *testing.T) {
	w := newNodeWorld(t)
	var (
		udp    = out(m1, noNeigh).udp(40000, 53)
		udp2   = out(m2, noNeigh).udp(40000, 53) // leaves from portMin
		syn    = in(noNeigh, snatIP).tcp(40000, 8080, tcpSYN)
		synAck = out(m1, noNeigh).tcp(80, 40000, tcpSYN|tcpACK)
		frag   = out(m1, noNeigh).udp(40000, 53).with(func(p *pkt) { p.mf = true })
		sent   = verdict{ActOK, fwdSNAT, 0}
	)
	cases := []struct {
		name  string
		setup func(n *node)
		in    pkt // as the kernel routed it: MACs of the uplink and next hop, TTL down
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"a masqueraded flow's packet", func(n *node) { n.fromEp(m1, udp, toKernel) },
			udp.routed(), sent, udp.masqueraded(40000), []flow{masqFlow(m1, udp, 40000)}},
		{"from a port taken", func(n *node) {
			n.narrowPorts()
			n.fromEp(m1, udp, toKernel)
			n.fromEp(m2, udp2, toKernel)
		}, udp2.routed(), sent, udp2.masqueraded(portMin), []flow{masqFlow(m1, udp, 40000), masqFlow(m2, udp2, portMin)}},
		{"a published flow's reply", func(n *node) { n.publish(); n.fromUp(syn, dnatTo(m1)) },
			synAck.routed(), verdict{ActOK, fwdReply, 0}, synAck.masqueraded(8080), []flow{dnatFlow(m1, syn, 80)}},
		{"no flow", nil, udp.routed(), shot(untranslated), pkt{}, nil},
		// The lookup removes the dead flow's entries, as every lookup does.
		{"a dead flow", func(n *node) { n.fromEp(m1, udp, toKernel); n.expire(udp.tuple()) },
			udp.routed(), shot(untranslated), pkt{}, nil},
		{"a fragment", nil, frag.routed(), shot(untranslated), pkt{}, nil},
		{"an internal network's endpoint", nil, out(i1, noNeigh).udp(40000, 53).routed(), shot(untranslated), pkt{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			var before []uint64
			for _, f := range tc.flows {
				c := n.flow(f.orig)
				before = append(before, c.PacketsOrig+c.PacketsReply)
			}
			n.checkRun(n.toUp(tc.in, tc.want), tc.in, tc.out, tc.flows)
			for i, f := range tc.flows {
				if c := n.flow(f.orig); c.PacketsOrig+c.PacketsReply != before[i] {
					t.Errorf("flow %v counts %d packets, counted %d before: enet_from_ep counts them", f.orig,
						c.PacketsOrig+c.PacketsReply, before[i])
				}
			}
		})
	}
}

// TestToUplinkICMPErrors: the node's ICMP error about a packet it got
// translated (one whose TTL ran out at the node, to a published port or a
// masqueraded flow's reply) quotes the packet as translated; it leaves
// quoting what the sender sent, as netfilter has it, so traceroute sees
// the node. An error about no flow passes as it is (TestToUplinkUncounted).
func TestToUplinkICMPErrors(t *testing.T) {
	w := newNodeWorld(t)
	var (
		ttl1    = func(p *pkt) { p.ttl = 1 }
		syn     = in(remote, snatIP).tcp(40000, 8080, tcpSYN).with(ttl1)
		dns     = in(remote, snatIP).udp(40000, 5353).with(ttl1)
		udp     = out(m1, remote).udp(40000, 53)
		reply   = in(remote, snatIP).udp(53, 40000).with(ttl1)
		quoted  = func(p pkt, e Endpoint, port uint16) pkt { return p.to(e.IP, port) } // as the kernel got it
		exceed  = func(q []byte) pkt { return host(remote).icmpError(11, 0, 0, q) }
		handled = verdict{ActOK, fwdICMPError, 0}
	)
	cases := []struct {
		name  string
		setup func(n *node)
		in    pkt
		out   pkt
		flows []flow
	}{
		{"time exceeded about a published TCP port", func(n *node) { n.fromUp(syn, toStack) },
			exceed(quote(t, quoted(syn, m1, 80), 28)), exceed(quote(t, syn, 28)), []flow{dnatFlow(m1, syn, 80)}},
		{"time exceeded about a published UDP port", func(n *node) { n.fromUp(dns, toStack) },
			exceed(quote(t, quoted(dns, m1, 53), 28)),
			exceed(requote(t, quoted(dns, m1, 53), dns, 28)), []flow{dnatFlow(m1, dns, 53)}},
		{"time exceeded about a masqueraded flow's reply", func(n *node) {
			n.fromEp(m1, udp, snatOut)
			n.fromUp(reply, toStack)
		}, exceed(quote(t, quoted(reply, m1, 40000), 28+7)),
			exceed(requote(t, quoted(reply, m1, 40000), reply, 28+7)), []flow{masqFlow(m1, udp, 40000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			tc.setup(n)
			n.checkRun(n.toUp(tc.in, handled), tc.in, tc.out, tc.flows)
		})
	}
}
