package bpftest

import (
	"testing"
	"time"
)

// TestPublished: the DNAT of published ports, from the uplink and from
// endpoints (hairpin). The groups share one load of the datapath.
func TestPublished(t *testing.T) {
	w := newNodeWorld(t)
	t.Run("from the uplink", func(t *testing.T) { publishedFromUplink(t, w) })
	t.Run("replies", func(t *testing.T) { publishedReplies(t, w) })
	t.Run("flow life", func(t *testing.T) { publishedFlowLife(t, w) })
	t.Run("client port taken", func(t *testing.T) { publishedPortTaken(t, w) })
	t.Run("hairpin", func(t *testing.T) { hairpin(t, w) })
}

// publishedFromUplink: a packet on the uplink to a published port
// reaches the endpoint behind it with the client's address kept, and
// starts a flow; a port published on one address answers only there, one
// published on every address on every address of the node
// (enet_node_addrs), one published on 127.0.0.1 never; the rest is the
// node's. Later packets and ICMP errors
// about the flow's replies follow the flow.
func publishedFromUplink(t *testing.T, w *nodeWorld) {
	var (
		syn        = in(remote, snatIP).tcp(40000, 8080, tcpSYN)
		ack        = in(remote, snatIP).tcp(40000, 8080, tcpACK)
		dns        = in(remote, snatIP).udp(40000, 5353)
		synAck     = out(m1, remote).tcp(80, 40000, tcpSYN|tcpACK) // m1's answer to syn
		dnsAns     = out(m1, remote).udp(53, 40000)                // m1's answer to dns
		sentSynAck = synAck.masqueraded(8080)                      // what remote got of them
		sentAns    = dnsAns.masqueraded(5353)
		unreach    = in(remote, snatIP).icmpError(3, 3, 0, quote(t, sentAns, 28+7))
		fragNeeded = in(routerIP, snatIP).icmpError(3, 4, 1400, quote(t, sentSynAck, 28))
		synOn      = func(dst string, port uint16) pkt { return in(remote, addr(dst)).tcp(40000, port, tcpSYN) }
		withSyn    = func(n *node) { n.fromUp(syn, dnatTo(m1)) }
	)
	cases := []struct {
		name  string
		setup func(n *node)
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"TCP to a port published on every address", nil, syn, dnatTo(m1), syn.delivered(m1, 80),
			[]flow{dnatFlow(m1, syn, 80)}},
		{"UDP to a port published on every address", nil, dns, dnatTo(m1), dns.delivered(m1, 53),
			[]flow{dnatFlow(m1, dns, 53)}},
		{"UDP without checksum", nil, dns.with(func(p *pkt) { p.noUDPCsum = true }), dnatTo(m1),
			dns.delivered(m1, 53).with(func(p *pkt) { p.noUDPCsum = true }), []flow{dnatFlow(m1, dns, 53)}},
		{"to the uplink address a port is published on", nil, synOn("198.51.100.1", 8081), dnatTo(m2),
			synOn("198.51.100.1", 8081).delivered(m2, 81), []flow{dnatFlow(m2, synOn("198.51.100.1", 8081), 81)}},
		{"to another node address a port is published on", nil, synOn("198.51.100.2", 8443), dnatTo(m2),
			synOn("198.51.100.2", 8443).delivered(m2, 443), []flow{dnatFlow(m2, synOn("198.51.100.2", 8443), 443)}},
		{"published on every address, to another node address", nil, synOn("198.51.100.2", 8080), dnatTo(m1),
			synOn("198.51.100.2", 8080).delivered(m1, 80), []flow{dnatFlow(m1, synOn("198.51.100.2", 8080), 80)}},
		{"published on every address, to another device's address", nil, synOn("192.0.2.1", 8080), dnatTo(m1),
			synOn("192.0.2.1", 8080).delivered(m1, 80), []flow{dnatFlow(m1, synOn("192.0.2.1", 8080), 80)}},
		{"published on every address, to a gateway", nil, synOn("10.20.0.1", 8080), dnatTo(m1),
			synOn("10.20.0.1", 8080).delivered(m1, 80), []flow{dnatFlow(m1, synOn("10.20.0.1", 8080), 80)}},
		{"published on every address, to an address not the node's", nil, synOn("198.51.100.77", 8080), toStack, pkt{}, nil},
		{"published on another address, to the uplink's", nil, synOn("198.51.100.1", 8443), toStack, pkt{}, nil},
		{"published on the uplink address, to another", nil, synOn("198.51.100.2", 8081), toStack, pkt{}, nil},
		{"published on 127.0.0.1, to the uplink address", nil, synOn("198.51.100.1", 9090), toStack, pkt{}, nil},
		{"published on 127.0.0.1, to 127.0.0.1", nil, synOn("127.0.0.1", 9090), toStack, pkt{}, nil},
		{"port not published", nil, synOn("198.51.100.1", 9999), toStack, pkt{}, nil},
		{"published for the other protocol", nil, in(remote, snatIP).udp(40000, 8080), toStack, pkt{}, nil},
		{"published for an endpoint that is gone", nil, synOn("198.51.100.1", 7070), endpointGone, pkt{}, nil},
		{"later packet of the flow", withSyn, ack, dnatTo(m1), ack.delivered(m1, 80), []flow{dnatFlow(m1, syn, 80)}},
		// The kernel routes it, and its time exceeded quotes it as
		// translated: enet_to_up translates that back (TestToUplinkICMPErrors).
		{"TTL 1", nil, syn.with(func(p *pkt) { p.ttl = 1 }), toStack, syn.with(func(p *pkt) { p.ttl = 1 }).to(m1.IP, 80),
			[]flow{dnatFlow(m1, syn, 80)}},
		// docker -p 8080:80 -p 8082:80, one client port to both: the
		// second flow's reply would be the first's, so it reaches the
		// endpoint from another port, as netfilter's NAT has it.
		{"reply tuple held by the flow of another host port", func(n *node) { n.narrowPorts(); withSyn(n) },
			synOn("198.51.100.1", 8082), dnatTo(m1), synOn("198.51.100.1", 8082).delivered(m1, 80).from(remote, portMin),
			[]flow{dnatFlow(m1, syn, 80), dnatFlowFrom(m1, synOn("198.51.100.1", 8082), portMin, 80)}},
		{"reply tuple held by the endpoint's own flow", func(n *node) {
			n.narrowPorts()
			n.fromEp(m1, out(m1, remote).tcp(80, 40000, tcpSYN), snatOut)
		}, syn, dnatTo(m1), syn.delivered(m1, 80).from(remote, portMin),
			[]flow{masqFlow(m1, out(m1, remote).tcp(80, 40000, tcpSYN), 80), dnatFlowFrom(m1, syn, portMin, 80)}},
		{"reply tuple held, no port free", func(n *node) {
			n.narrowPorts()
			withSyn(n)
			n.fromUp(in(remote, snatIP).tcp(40001, 8080, tcpSYN), dnatTo(m1))
			n.fromUp(in(remote, snatIP).tcp(portMin, 8082, tcpSYN), dnatTo(m1))
		}, synOn("198.51.100.1", 8082), shot(exhausted), pkt{}, []flow{
			dnatFlow(m1, syn, 80), dnatFlow(m1, in(remote, snatIP).tcp(40001, 8080, tcpSYN), 80),
			dnatFlow(m1, in(remote, snatIP).tcp(portMin, 8082, tcpSYN), 80),
		}},
		{"reply tuple held by a dead flow", func(n *node) {
			n.fromUp(synOn("198.51.100.1", 8082), dnatTo(m1))
			n.expire(synOn("198.51.100.1", 8082).tuple())
		}, syn, dnatTo(m1), syn.delivered(m1, 80), []flow{dnatFlow(m1, syn, 80)}},
		{"port unreachable from the client about a reply", func(n *node) {
			n.fromUp(dns, dnatTo(m1))
			n.fromEp(m1, dnsAns, replyOut)
		}, unreach, dnatTo(m1), unreach.delivered(m1, 0).with(func(p *pkt) {
			p.payload = requote(t, sentAns, sentAns.from(m1.IP, 53), 28+7)
		}), []flow{dnatFlow(m1, dns, 53)}},
		{"fragmentation needed from a router about a reply", func(n *node) {
			withSyn(n)
			n.fromEp(m1, synAck, replyOut)
		}, fragNeeded, dnatTo(m1), fragNeeded.delivered(m1, 0).with(func(p *pkt) {
			p.payload = requote(t, sentSynAck, sentSynAck.from(m1.IP, 80), 28)
		}), []flow{dnatFlow(m1, syn, 80)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(n.fromUp(tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}

// publishedReplies: what the endpoint behind a published port sends
// back leaves the uplink from the published address and port, ICMP errors
// included.
func publishedReplies(t *testing.T, w *nodeWorld) {
	var (
		syn      = in(remote, snatIP).tcp(40000, 8080, tcpSYN)
		dns      = in(remote, snatIP).udp(40000, 5353)
		exact    = in(remote, nodeIP2).tcp(40000, 8443, tcpSYN)
		received = dns.delivered(m1, 53) // what m1 got of dns
		unreach  = out(m1, remote).icmpError(3, 3, 0, quote(t, received, 28+7))
		synAck   = out(m1, remote).tcp(80, 40000, tcpSYN|tcpACK)
	)
	cases := []struct {
		name  string
		first pkt // from the uplink: starts the flow
		from  Endpoint
		in    pkt
		out   pkt
		flow  flow
	}{
		{"TCP", syn, m1, synAck, synAck.masqueraded(8080), dnatFlow(m1, syn, 80)},
		{"UDP", dns, m1, out(m1, remote).udp(53, 40000), out(m1, remote).udp(53, 40000).masqueraded(5353),
			dnatFlow(m1, dns, 53)},
		{"from a port published on one address", exact, m2, out(m2, remote).tcp(443, 40000, tcpSYN|tcpACK),
			out(m2, remote).tcp(443, 40000, tcpSYN|tcpACK).routed().from(nodeIP2, 8443), dnatFlow(m2, exact, 443)},
		{"port unreachable to the client", dns, m1, unreach, unreach.masqueraded(0).with(func(p *pkt) {
			p.payload = requote(t, received, received.to(snatIP, 5353), 28+7)
		}), dnatFlow(m1, dns, 53)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			n.fromUp(tc.first, dnatTo(tc.from))
			checkOut(t, n.fromEp(tc.from, tc.in, replyOut), tc.out)
			n.checkFlows(tc.flow)
		})
	}
}

// publishedFlowLife: a published TCP flow through the handshake and the
// close, the client's packets on the uplink and the endpoint's answers,
// each translated as the first; a client's half close leaves the
// endpoint's late answer going out from the published port.
func publishedFlowLife(t *testing.T, w *nodeWorld) {
	handshake := []tcpStep{
		o(tcpSYN).is(synSent, toSynSent, false),
		r(synAck).is(synRecv, toSynRecv, false),
		o(tcpACK).is(est, toEstablished, true),
		r(tcpACK).bytes(10).is(est, toEstablished, true),
	}
	cases := []struct {
		name  string
		steps []tcpStep
	}{
		{"closed", append(handshake,
			o(finAck).is(finWait, toFinWait, true),
			r(finAck).is(lastAck, toLastAck, false),
			o(tcpACK).is(timeWait, toTimeWait, false),
		)},
		{"half closed by the client, the endpoint's answer 15s on", append(handshake,
			o(finAck).is(finWait, toFinWait, true),
			r(tcpACK).is(closeWait, toCloseWait, true),
			r(tcpACK).bytes(1000).after(15*time.Second).is(closeWait, toCloseWait, true),
			r(finAck).is(lastAck, toLastAck, false),
			o(tcpACK).is(timeWait, toTimeWait, false),
		)},
		{"refused by the endpoint", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			r(rstAck).isEnded(),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { dnatPath.play(w.node(t), tc.steps) })
	}
}

// publishedPortTaken: a client that reaches one endpoint port through two
// host ports from one source port has two flows; the second reaches the
// endpoint from another port, and each flow's answers go back to the
// client's port from their own host port.
func publishedPortTaken(t *testing.T, w *nodeWorld) {
	n := w.node(t)
	n.publish()
	n.narrowPorts()
	var (
		syn80   = in(remote, snatIP).tcp(40000, 8080, tcpSYN)
		syn82   = in(remote, snatIP).tcp(40000, 8082, tcpSYN)
		ack82   = in(remote, snatIP).tcp(40000, 8082, tcpACK)
		answer1 = out(m1, remote).tcp(80, 40000, tcpSYN|tcpACK)
		answer2 = out(m1, remote).tcp(80, portMin, tcpSYN|tcpACK)
	)
	checkOut(t, n.fromUp(syn80, dnatTo(m1)), syn80.delivered(m1, 80))
	checkOut(t, n.fromUp(syn82, dnatTo(m1)), syn82.delivered(m1, 80).from(remote, portMin))
	checkOut(t, n.fromEp(m1, answer1, replyOut), answer1.masqueraded(8080))
	checkOut(t, n.fromEp(m1, answer2, replyOut), answer2.masqueraded(8082).to(remote, 40000))
	checkOut(t, n.fromUp(ack82, dnatTo(m1)), ack82.delivered(m1, 80).from(remote, portMin))
	// The second flow completed its handshake: assured.
	n.checkFlows(dnatFlow(m1, syn80, 80), dnatFlowFrom(m1, syn82, portMin, 80).assure())
}
