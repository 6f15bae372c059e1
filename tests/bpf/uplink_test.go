package bpftest

import (
	"testing"
)

// TestFromUplink: what enet_from_up does with a packet arriving on the
// uplink: replies and ICMP errors of translated flows go back to their
// endpoint translated, packets straight to an endpoint only reach one that
// is not masqueraded, and the rest is the node's.
func TestFromUplink(t *testing.T) {
	w := newNodeWorld(t)
	var (
		udp1          = out(m1, remote).udp(40000, 53)
		udp2          = out(m2, remote).udp(40000, 53) // collides with udp1: leaves from 61000
		syn1          = out(m1, remote).tcp(40000, 80, tcpSYN)
		syn2          = out(m2, remote).tcp(40000, 80, tcpSYN)
		ping1, ping2  = out(m1, remote).echo(0x4242), out(m2, remote).echo(0x4242)
		nodeUDP       = host(remote).udp(40000, 53)
		nodeSyn       = host(remote).tcp(40000, 80, tcpSYN)
		udpReply      = in(remote, snatIP).udp(53, 40000)
		tcpReply      = in(remote, snatIP).tcp(80, 61000, tcpSYN|tcpACK)
		pong2         = in(remote, snatIP).echoReply(61000)
		sent2         = udp2.masqueraded(61000) // what remote got of m2's flow
		unreach       = in(remote, snatIP).icmpError(3, 3, 0, quote(t, sent2, 28+7))
		sentSyn2      = syn2.masqueraded(61000)
		fragNeeded    = in(routerIP, snatIP).icmpError(3, 4, 1400, quote(t, sentSyn2, 28))
		strayUnreach  = in(remote, snatIP).icmpError(3, 3, 0, quote(t, udp1.masqueraded(40001), 28))
		collidingUDP  = func(n *node) { n.narrowPorts(); n.fromEp(m1, udp1, snatOut); n.fromEp(m2, udp2, snatOut) }
		collidingSyns = func(n *node) { n.narrowPorts(); n.fromEp(m1, syn1, snatOut); n.fromEp(m2, syn2, snatOut) }
	)
	cases := []struct {
		name  string
		setup func(n *node)
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"UDP reply", func(n *node) { n.fromEp(m1, udp1, snatOut) },
			udpReply, replyTo(m1), udpReply.delivered(m1, 40000), []flow{masqFlow(m1, udp1, 40000)}},
		{"TCP reply to a changed port", collidingSyns,
			tcpReply, replyTo(m2), tcpReply.delivered(m2, 40000),
			[]flow{masqFlow(m1, syn1, 40000), masqFlow(m2, syn2, 61000)}},
		{"ICMP echo reply", func(n *node) { n.fromEp(m1, ping1, snatOut) },
			in(remote, snatIP).echoReply(0x4242), replyTo(m1), in(remote, snatIP).echoReply(0x4242).delivered(m1, 0x4242),
			[]flow{masqFlow(m1, ping1, 0x4242)}},
		{"ICMP echo reply to a changed identifier", func(n *node) {
			n.narrowPorts()
			n.fromEp(m1, ping1, snatOut)
			n.fromEp(m2, ping2, snatOut)
		}, pong2, replyTo(m2), pong2.delivered(m2, 0x4242),
			[]flow{masqFlow(m1, ping1, 0x4242), masqFlow(m2, ping2, 61000)}},
		{"port unreachable for a UDP flow", collidingUDP,
			unreach, replyTo(m2), unreach.delivered(m2, 0).with(func(p *pkt) {
				p.payload = requote(t, sent2, sent2.with(func(q *pkt) { q.src, q.sport = m2.IP, 40000 }), 28+7)
			}), []flow{masqFlow(m1, udp1, 40000), masqFlow(m2, udp2, 61000)}},
		{"fragmentation needed for a TCP flow", collidingSyns,
			fragNeeded, replyTo(m2), fragNeeded.delivered(m2, 0).with(func(p *pkt) {
				p.payload = requote(t, sentSyn2, sentSyn2.with(func(q *pkt) { q.src, q.sport = m2.IP, 40000 }), 28)
			}), []flow{masqFlow(m1, syn1, 40000), masqFlow(m2, syn2, 61000)}},
		{"ICMP error about no flow", func(n *node) { n.fromEp(m1, udp1, snatOut) },
			strayUnreach, toStack, pkt{}, []flow{masqFlow(m1, udp1, 40000)}},
		{"to the node, no flow", nil, udpReply, toStack, pkt{}, nil},
		{"reply of a node's flow", func(n *node) { n.toUp(nodeUDP, hostPass) },
			udpReply, toStack, pkt{}, []flow{hostFlowOf(nodeUDP, 40000)}},
		{"reply of a node's flow that changed port", func(n *node) {
			n.narrowPorts()
			n.fromEp(m1, syn1, snatOut)
			n.toUp(nodeSyn, hostPass)
		}, tcpReply, toStack, tcpReply.withDport(40000), []flow{masqFlow(m1, syn1, 40000), hostFlowOf(nodeSyn, 61000)}},
		{"reply with TTL 1", func(n *node) { n.fromEp(m1, udp1, snatOut) },
			udpReply.with(func(p *pkt) { p.ttl = 1 }), toStack,
			udpReply.with(func(p *pkt) { p.ttl, p.dst = 1, m1.IP }), []flow{masqFlow(m1, udp1, 40000)}},
		{"straight to a masqueraded endpoint", nil, in(remote, m1.IP).udp(53, 40000), shot(direct), pkt{}, nil},
		{"straight to an internal endpoint", nil, in(remote, i1.IP).udp(53, 40000), shot(direct), pkt{}, nil},
		{"straight to a routed endpoint", nil, in(remote, r1.IP).udp(53, 40000),
			verdict{ActRedirect, fwdRouted, r1.Ifindex}, in(remote, r1.IP).udp(53, 40000).delivered(r1, 40000), nil},
		{"reply of an expired flow", func(n *node) {
			n.fromEp(m1, udp1, snatOut)
			n.expire(udp1.tuple())
		}, udpReply, toStack, pkt{}, nil},
		{"reply of a flow whose conntrack entry is gone", func(n *node) {
			n.fromEp(m1, udp1, snatOut)
			n.forgetCT(udp1.tuple())
		}, udpReply, toStack, pkt{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			r := n.fromUp(tc.in, tc.want)
			want := tc.out
			if !want.src.IsValid() {
				want = tc.in
			}
			checkOut(t, r, want)
			n.checkFlows(tc.flows...)
		})
	}
}
