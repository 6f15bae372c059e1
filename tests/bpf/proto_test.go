package bpftest

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/maps"
)

// Packets of the protocols beyond TCP, UDP and ICMP echo.
var (
	greKeepalive = []byte{0, 0, 0x08, 0x00, 0x45, 0, 0, 0x18} // GRE header, then an IPv4 packet
	espPacket    = []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef}
	gre1         = out(m1, remote).raw(layers.IPProtocolGRE, greKeepalive)
	gre2         = out(m2, remote).raw(layers.IPProtocolGRE, greKeepalive)
	sctp1        = out(m1, remote).ports(layers.IPProtocolSCTP, 9000, 9000)
	sctp2        = out(m2, remote).ports(layers.IPProtocolSCTP, 9000, 9000)
	nodeGRE      = host(remote).raw(layers.IPProtocolGRE, greKeepalive)
)

// TestOtherProtocols: an endpoint's flows of protocols without ports (GRE,
// ESP, IP protocol 253) are masqueraded by address alone, as netfilter's
// generic tracker does; ICMP queries other than echo by their identifier;
// UDP-Lite, DCCP and SCTP by their ports. Every checksum is kept right:
// those over a pseudo header change with the address, GRE's, ESP's and
// SCTP's do not. The replies come back, and each flow lives as long as its
// protocol's timeout says.
func TestOtherProtocols(t *testing.T) {
	w := newNodeWorld(t)
	cases := []struct {
		name    string
		in      pkt
		timeout uint64
	}{
		{"GRE", gre1, toGeneric},
		{"ESP", out(m1, remote).raw(layers.IPProtocolESP, espPacket), toGeneric},
		{"IP protocol 253", out(m1, remote).raw(ipProto253, []byte("experiment")), toGeneric},
		{"ICMP timestamp", out(m1, remote).query(13, 0x4243), toICMP},
		{"ICMP information request", out(m1, remote).query(15, 0x4244), toICMP},
		{"ICMP address mask request", out(m1, remote).query(17, 0x4245), toICMP},
		{"UDP-Lite", out(m1, remote).ports(ipProtoUDPLite, 40000, 53), toUDP},
		{"DCCP", out(m1, remote).ports(ipProtoDCCP, 40000, 5004), toUDP},
		{"SCTP", sctp1, toUDP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			before := monoNow(t)
			r := n.fromEp(m1, tc.in, snatOut)
			after := monoNow(t)
			port := tc.in.tuple().Src.Port()
			checkOut(t, r, tc.in.masqueraded(port))
			n.checkFlows(masqFlow(m1, tc.in, port))
			checkExpiry(t, n.flow(tc.in.tuple()), before, after, tc.timeout)
			back := tc.in.masqueraded(port).reply()
			checkOut(t, n.fromUp(back, replyTo(m1)), back.delivered(m1, port))
			if f := n.flow(tc.in.tuple()); f.PacketsReply != 1 {
				t.Errorf("flow counts %d replies, want 1", f.PacketsReply)
			}
		})
	}
}

// TestNATClash: a flow that would share the node's side with another
// cannot move to another port when its protocol has none (the same remote
// and protocol) or when a new one would break its checksum (SCTP): it is
// dropped and counted, as netfilter drops it (insert_failed), and nothing
// is written. The node's own such flow is dropped too, rather than have
// its replies go to the endpoint. Protocols whose checksum the datapath
// keeps take another port as UDP does.
func TestNATClash(t *testing.T) {
	w := newNodeWorld(t)
	var (
		withGRE1  = func(n *node) { n.fromEp(m1, gre1, snatOut) }
		withSCTP1 = func(n *node) { n.fromEp(m1, sctp1, snatOut) }
		esp2      = out(m2, remote).raw(layers.IPProtocolESP, espPacket)
		greElse   = out(m2, addr("203.0.113.11")).raw(layers.IPProtocolGRE, greKeepalive)
		sctpOther = out(m2, remote).ports(layers.IPProtocolSCTP, 9001, 9000)
	)
	cases := []struct {
		name  string
		setup func(n *node)
		prog  func(n *node, p pkt, want verdict) Result
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"GRE of a second endpoint to the same remote", withGRE1, fromEp(m2), gre2, shot(natClash), pkt{},
			[]flow{masqFlow(m1, gre1, 0)}},
		{"GRE of a second endpoint to another remote", withGRE1, fromEp(m2), greElse, snatOut, greElse.masqueraded(0),
			[]flow{masqFlow(m1, gre1, 0), masqFlow(m2, greElse, 0)}},
		{"ESP of a second endpoint to the same remote", withGRE1, fromEp(m2), esp2, snatOut, esp2.masqueraded(0),
			[]flow{masqFlow(m1, gre1, 0), masqFlow(m2, esp2, 0)}},
		{"SCTP of a second endpoint from the same port", withSCTP1, fromEp(m2), sctp2, shot(natClash), pkt{},
			[]flow{masqFlow(m1, sctp1, 9000)}},
		{"SCTP of a second endpoint from another port", withSCTP1, fromEp(m2), sctpOther, snatOut, sctpOther.masqueraded(9001),
			[]flow{masqFlow(m1, sctp1, 9000), masqFlow(m2, sctpOther, 9001)}},
		{"GRE of the node to an endpoint's remote", withGRE1, (*node).toUp, nodeGRE, shot(natClash), pkt{},
			[]flow{masqFlow(m1, gre1, 0)}},
		{"GRE of an endpoint to the node's remote", func(n *node) { n.toUp(nodeGRE, hostPass) }, fromEp(m1), gre1,
			shot(natClash), pkt{}, []flow{hostFlowOf(nodeGRE, 0)}},
		{"GRE of the node recorded", nil, (*node).toUp, nodeGRE, hostPass, pkt{}, []flow{hostFlowOf(nodeGRE, 0)}},
		{"GRE of a second endpoint once the first's flow is dead", func(n *node) { withGRE1(n); n.expire(gre1.tuple()) },
			fromEp(m2), gre2, snatOut, gre2.masqueraded(0), []flow{masqFlow(m2, gre2, 0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(tc.prog(n, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}

func fromEp(e Endpoint) func(n *node, p pkt, want verdict) Result {
	return func(n *node, p pkt, want verdict) Result { return n.fromEp(e, p, want) }
}

// TestOtherPortsTaken: UDP-Lite, DCCP and the ICMP queries move to another
// port or identifier when theirs is taken, as UDP and echo do, with their
// checksums right, and the replies find their way back.
func TestOtherPortsTaken(t *testing.T) {
	w := newNodeWorld(t)
	for _, tc := range []struct {
		name   string
		m1, m2 pkt
	}{
		{"UDP-Lite", out(m1, remote).ports(ipProtoUDPLite, 40000, 53), out(m2, remote).ports(ipProtoUDPLite, 40000, 53)},
		{"DCCP", out(m1, remote).ports(ipProtoDCCP, 40000, 5004), out(m2, remote).ports(ipProtoDCCP, 40000, 5004)},
		{"ICMP timestamp", out(m1, remote).query(13, 7), out(m2, remote).query(13, 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.narrowPorts()
			n.fromEp(m1, tc.m1, snatOut)
			checkOut(t, n.fromEp(m2, tc.m2, snatOut), tc.m2.masqueraded(portMin))
			port := tc.m1.tuple().Src.Port()
			n.checkFlows(masqFlow(m1, tc.m1, port), masqFlow(m2, tc.m2, portMin))
			back := tc.m2.masqueraded(portMin).reply()
			checkOut(t, n.fromUp(back, replyTo(m2)), back.delivered(m2, port))
		})
	}
}

// TestOtherProtocolErrors: ICMP errors about flows of the other protocols
// reach the endpoint with the packet they quote translated back.
func TestOtherProtocolErrors(t *testing.T) {
	w := newNodeWorld(t)
	ts := out(m1, remote).query(13, 0x4243)
	for _, tc := range []struct {
		name string
		sent pkt // what m1 sent, masqueraded
		err  pkt // the error about it
	}{
		{"protocol unreachable about GRE", gre1, in(remote, snatIP).icmpError(3, 2, 0, quote(t, gre1.masqueraded(0), 28))},
		{"time exceeded about ESP", out(m1, remote).raw(layers.IPProtocolESP, espPacket),
			in(routerIP, snatIP).icmpError(11, 0, 0, quote(t, out(m1, remote).raw(layers.IPProtocolESP, espPacket).masqueraded(0), 28))},
		{"host unreachable about an ICMP timestamp", ts,
			in(routerIP, snatIP).icmpError(3, 1, 0, quote(t, ts.masqueraded(0x4243), 28))},
		{"port unreachable about SCTP", sctp1, in(remote, snatIP).icmpError(3, 3, 0, quote(t, sctp1.masqueraded(9000), 32))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.fromEp(m1, tc.sent, snatOut)
			// What the error quotes is the packet as it left: one hop on.
			left := tc.sent.with(func(p *pkt) { p.ttl-- })
			back := tc.err.delivered(m1, 0).with(func(p *pkt) { p.payload = quote(t, left, len(tc.err.payload)) })
			checkOut(t, n.fromUp(tc.err, replyTo(m1)), back)
		})
	}
}

// sctpPublications: an SCTP port published as the daemon writes it (the
// host port is the container port), and one leading to another port, which
// it never writes: the datapath would have to recompute the CRC32c.
var sctpPublications = []maps.Port{
	{Proto: uint8(layers.IPProtocolSCTP), HostPort: 9000, Target: netip.AddrPortFrom(m1.IP, 9000)},
	{Proto: uint8(layers.IPProtocolSCTP), HostPort: 9001, Target: netip.AddrPortFrom(m1.IP, 9002)},
}

// TestPublishedSCTP: an SCTP port published on every address is DNATed
// with its checksum untouched, from the uplink and from endpoints, and
// its answers leave from the published address; a publication leading to
// another port is not followed.
func TestPublishedSCTP(t *testing.T) {
	w := newNodeWorld(t)
	var (
		init    = in(remote, snatIP).ports(layers.IPProtocolSCTP, 40000, 9000)
		answer  = out(m1, remote).ports(layers.IPProtocolSCTP, 9000, 40000)
		other   = in(remote, snatIP).ports(layers.IPProtocolSCTP, 40000, 9001)
		hairpin = out(m2, snatIP).ports(layers.IPProtocolSCTP, 40000, 9000)
	)
	cases := []struct {
		name  string
		setup func(n *node)
		prog  func(n *node, p pkt, want verdict) Result
		in    pkt
		want  verdict
		out   pkt
		flows []flow
	}{
		{"from the uplink", nil, (*node).fromUp, init, dnatTo(m1), init.delivered(m1, 9000), []flow{dnatFlow(m1, init, 9000)}},
		{"the answer", func(n *node) { n.fromUp(init, dnatTo(m1)) }, fromEp(m1), answer, replyOut,
			answer.routed().from(snatIP, 9000), []flow{dnatFlow(m1, init, 9000)}},
		{"to a publication of another port", nil, (*node).fromUp, other, toStack, pkt{}, nil},
		{"hairpin", nil, fromEp(m2), hairpin, hairpinTo(m1), hairpin.hairpinned(m1, 40000, 9000),
			[]flow{hairpinFlow(m1, hairpin, 40000, 9000)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			must(t, n.Maps.Ports.PutAll(slices.Clone(sctpPublications)))
			if tc.setup != nil {
				tc.setup(n)
			}
			n.checkRun(tc.prog(n, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}
