package bpftest

import "testing"

// TestForgedReplies: issue 6, point 8. m1 has a masqueraded UDP flow and a
// published TCP flow; m2, on the same network, crafts packets shaped as
// their replies, or ICMP errors about them. With another's address or MAC
// each is dropped and counted; from its own address none is translated
// into m1's flows: a packet to m1's masquerade port goes to the node, an
// answer shaped as m1's is dropped as a SYN-ACK of no flow or, if a bare
// ACK, becomes a flow of m2's own, an ICMP error quoting m1's flow is
// about no flow of m2's and dropped. m1's flows stay as they were.
func TestForgedReplies(t *testing.T) {
	w := newNodeWorld(t)
	var (
		masq      = out(m1, remote).udp(40000, 53)
		syn       = in(remote, snatIP).tcp(41000, 8080, tcpSYN)
		synAck    = out(m1, remote).tcp(80, 41000, tcpSYN|tcpACK) // m1's answer to syn
		ownSynAck = out(m2, remote).tcp(80, 41000, tcpSYN|tcpACK)
		ownAck    = out(m2, remote).tcp(80, 41000, tcpACK)
		m1Flows   = []flow{masqFlow(m1, masq, 40000), dnatFlow(m1, syn, 80)}
		// What m1 was sent of its flows, as an ICMP error would quote it.
		gotReply = in(remote, snatIP).udp(53, 40000).delivered(m1, 40000)
		gotSyn   = syn.delivered(m1, 80)
	)
	cases := []struct {
		name  string
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"reply to m1's masquerade port, from its peer's address", out(m2, snatIP).udp(53, 40000).from(remote, 53),
			shot(spoofIP), pkt{}, m1Flows},
		{"to m1's masquerade port, from its own address", out(m2, snatIP).udp(53, 40000), passed, pkt{}, m1Flows},
		{"m1's answer in its published flow, from m1's address", synAck.with(func(p *pkt) { p.srcMAC = m2.MAC }),
			shot(spoofIP), pkt{}, m1Flows},
		{"m1's answer in its published flow, with m1's MAC", synAck, shot(spoofMAC), pkt{}, m1Flows},
		{"the same answer from its own address", ownSynAck, shot(tcpNoFlow), pkt{}, m1Flows},
		{"an ACK of the same from its own address", ownAck, snatOut, ownAck.masqueraded(80),
			append([]flow{masqFlow(m2, ownAck, 80)}, m1Flows...)},
		{"ICMP error about m1's masqueraded flow", out(m2, remote).icmpError(3, 3, 0, quote(t, gotReply, 28+7)),
			shot(noFlow), pkt{}, m1Flows},
		{"ICMP error about m1's published flow", out(m2, remote).icmpError(3, 3, 0, quote(t, gotSyn, 28)),
			shot(noFlow), pkt{}, m1Flows},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			n.fromEp(m1, masq, snatOut)
			n.fromUp(syn, dnatTo(m1))
			n.checkRun(n.fromEp(m2, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}
