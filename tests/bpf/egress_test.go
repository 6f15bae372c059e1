package bpftest

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/loader"
)

// TestMasqueradeNewFlow: an endpoint's first packet to beyond the node
// leaves the uplink from the node's address with its own port, its MACs
// from the FIB and its TTL one down, every checksum right; the flow gets
// two translations and a conntrack entry in the state and with the timeout
// of its protocol.
func TestMasqueradeNewFlow(t *testing.T) {
	w := newNodeWorld(t)
	udp := out(m1, remote).udp(40000, 53)
	cases := []struct {
		name    string
		in      pkt
		state   loader.EnetCtState
		timeout uint64
	}{
		{"TCP SYN", out(m1, remote).tcp(40000, 80, tcpSYN), loader.EnetCtStateCT_SYN_SENT, toSynSent},
		{"TCP picked up mid-stream", out(m1, remote).tcp(40000, 80, tcpACK), loader.EnetCtStateCT_ESTABLISHED, toUnack},
		{"UDP", udp, loader.EnetCtStateCT_NEW, toUDP},
		{"UDP without checksum", udp.with(func(p *pkt) { p.noUDPCsum = true }), loader.EnetCtStateCT_NEW, toUDP},
		{"ICMP echo", out(m1, remote).echo(0x4242), loader.EnetCtStateCT_NEW, toICMP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			before := monoNow(t)
			r := n.fromEp(m1, tc.in, snatOut)
			after := monoNow(t)
			port := tc.in.tuple().Src.Port()
			checkOut(t, r, tc.in.masqueraded(port))
			if tc.in.noUDPCsum && (r.Packet[14+20+6] != 0 || r.Packet[14+20+7] != 0) {
				t.Errorf("UDP checksum %x, want 0 kept", r.Packet[14+20+6:14+20+8])
			}
			n.checkFlows(masqFlow(m1, tc.in, port))
			f := n.flow(tc.in.tuple())
			if f.State != tc.state || f.PacketsOrig != 1 || f.BytesOrig != uint64(len(tc.in.ip(t))) || f.PacketsReply != 0 {
				t.Errorf("flow state %d, %d packets, %d bytes, %d replies; want state %d, 1 packet of %d bytes",
					f.State, f.PacketsOrig, f.BytesOrig, f.PacketsReply, tc.state, len(tc.in.ip(t)))
			}
			if f.CreatedNs < before || f.CreatedNs > after {
				t.Errorf("flow created at %d, want in [%d, %d]", f.CreatedNs, before, after)
			}
			checkExpiry(t, f, before, after, tc.timeout)
		})
	}
}

// TestEgress: where an endpoint's packet for beyond its subnet goes, by
// its network, the FIB's answer and what the packet is.
func TestEgress(t *testing.T) {
	w := newNodeWorld(t)
	var (
		udp  = out(m1, remote).udp(40000, 53)
		big  = udp.with(func(p *pkt) { p.payload = make([]byte, 1600) })
		gre  = out(m1, remote).with(func(p *pkt) { p.proto, p.payload = layers.IPProtocolGRE, make([]byte, 8) })
		frag = udp.with(func(p *pkt) { p.mf = true })
		// An ICMP redirect (type 5) belongs to no flow.
		redirect = out(m1, remote).icmpError(5, 1, 0, quote(t, udp, 28))
		rUDP     = out(r1, remote).udp(40000, 53)
		rBig     = rUDP.with(func(p *pkt) { p.payload = make([]byte, 1600) })
		rGRE     = out(r1, remote).with(func(p *pkt) { p.proto, p.payload = layers.IPProtocolGRE, make([]byte, 8) })
		rFrag    = rUDP.with(func(p *pkt) { p.mf = true })
		toSide   = out(m1, sideDst).udp(40000, 53)
		unres    = out(m1, noNeigh).udp(40000, 53)
		// What m1 received of its flow, and answers with port unreachable.
		reply    = in(remote, snatIP).udp(53, 40000)
		received = reply.delivered(m1, 40000)
		unreach  = out(m1, remote).icmpError(3, 3, 0, quote(t, received, 28+7))
		// An ICMP error about a packet of no flow.
		stray  = out(m1, remote).icmpError(3, 3, 0, quote(t, in(remote, m1.IP).udp(53, 40001), 28))
		rStray = out(r1, remote).icmpError(3, 3, 0, quote(t, in(remote, r1.IP).udp(53, 40001), 28))
	)
	cases := []struct {
		name  string
		setup func(n *node)
		from  Endpoint
		in    pkt
		want  verdict
		out   pkt // zero: the packet leaves unchanged
		flows []flow
	}{
		{"masquerade", nil, m1, udp, snatOut, udp.masqueraded(40000), []flow{masqFlow(m1, udp, 40000)}},
		// The kernel resolves the next hop, or answers host unreachable;
		// enet_to_up translates the packet by the flow recorded here.
		{"masquerade, next hop unresolved", nil, m1, unres, toKernel, pkt{}, []flow{masqFlow(m1, unres, 40000)}},
		{"masquerade, next hop unresolved, later packet", func(n *node) { n.fromEp(m1, unres, toKernel) },
			m1, unres, toKernel, pkt{}, []flow{masqFlow(m1, unres, 40000)}},
		{"masquerade, next hop unresolved, port taken", func(n *node) {
			n.narrowPorts()
			n.fromEp(m1, unres, toKernel)
		}, m2, out(m2, noNeigh).udp(40000, 53), toKernel, pkt{},
			[]flow{masqFlow(m1, unres, 40000), masqFlow(m2, out(m2, noNeigh).udp(40000, 53), portMin)}},
		{"masquerade off", nil, r1, rUDP, routedOut, rUDP.routed(), nil},
		{"masquerade off, next hop unresolved", nil, r1, out(r1, noNeigh).udp(40000, 53), toKernel, pkt{}, nil},
		// Routed from the endpoint's own address, as the kernel routes it.
		{"source rule prohibits", nil, m3, out(m3, remote).udp(40000, 53), passed, pkt{}, nil},
		{"source rule prohibits a published port's reply", func(n *node) {
			n.publish()
			n.fromUp(in(remote, snatIP).tcp(40000, 8084, tcpSYN), dnatTo(m3))
		}, m3, out(m3, remote).tcp(80, 40000, tcpSYN|tcpACK), passed, pkt{},
			[]flow{dnatFlow(m3, in(remote, snatIP).tcp(40000, 8084, tcpSYN), 80)}},
		{"internal network", nil, i1, out(i1, remote).udp(40000, 53), shot(dropInternal), pkt{}, nil},
		// As with Docker, the node's own addresses stay reachable.
		{"internal network to an address of the node", nil, i1, out(i1, snatIP).udp(40000, 53), passed, pkt{}, nil},
		{"no uplink", func(n *node) { n.SetConfig(loader.EnetConfig{Flags: loader.EnetConfigFlagCONFIG_F_TRACE}) },
			m1, udp, passed, pkt{}, nil},
		{"TTL 1", nil, m1, udp.with(func(p *pkt) { p.ttl = 1 }), passed, pkt{}, nil},
		{"local destination", nil, m1, out(m1, snatIP).udp(40000, 53), passed, pkt{}, nil},
		{"masquerade, route not via the uplink", nil, m1, toSide, shot(noRoute), pkt{}, nil},
		{"masquerade off, route not via the uplink", nil, r1, out(r1, sideDst).udp(40000, 53), passed, pkt{}, nil},
		{"too big without DF", nil, m1, big, shot(tooBig), pkt{}, nil},
		{"too big with DF", nil, m1, big.with(func(p *pkt) { p.df = true }), passed, pkt{}, nil},
		{"masquerade off, too big without DF", nil, r1, rBig, shot(tooBig), pkt{}, nil},
		{"protocol without ports", nil, m1, gre, snatOut, gre.masqueraded(0), []flow{masqFlow(m1, gre, 0)}},
		{"ICMP that is no query nor error", nil, m1, redirect, shot(natProto), pkt{}, nil},
		{"masquerade off, protocol without ports", nil, r1, rGRE, routedOut, rGRE.routed(), nil},
		// Later fragments and their order: frag_test.go.
		{"first fragment", nil, m1, frag, snatOut, frag.masqueraded(40000), []flow{masqFlow(m1, udp, 40000)}},
		{"masquerade off, fragment", nil, r1, rFrag, routedOut, rFrag.routed(), nil},
		{"ICMP error about no flow", nil, m1, stray, shot(noFlow), pkt{}, nil},
		{"masquerade off, ICMP error about no flow", nil, r1, rStray, routedOut, rStray.routed(), nil},
		{"ICMP error about a flow's reply", func(n *node) {
			n.fromEp(m1, udp, snatOut)
			n.fromUp(reply, replyTo(m1))
		}, m1, unreach, verdict{ActRedirect, fwdReply, uplinkIdx}, unreach.masqueraded(0).with(func(p *pkt) {
			p.payload = requote(t, received, received.with(func(q *pkt) { q.dst = snatIP }), 28+7)
		}), []flow{masqFlow(m1, udp, 40000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(n.fromEp(tc.from, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}
