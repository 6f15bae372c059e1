package bpftest

import (
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
)

// lifeStep is one packet of a flow between m1 and remote, and what its
// conntrack entry says after it.
type lifeStep struct {
	reply   bool  // remote's packet on the uplink, else m1's
	tcp     uint8 // TCP flags
	state   loader.EnetCtState
	timeout uint64
}

// TestFlowLife follows flows packet by packet: every packet of an existing
// flow is translated as the first was, the counters of its direction grow,
// TCP moves SYN -> established -> closing with FIN or RST, and the expiry
// follows the state.
func TestFlowLife(t *testing.T) {
	w := newNodeWorld(t)
	const (
		syn, est, closing = loader.EnetCtStateCT_SYN, loader.EnetCtStateCT_ESTABLISHED, loader.EnetCtStateCT_CLOSING
		synAck, finAck    = tcpSYN | tcpACK, tcpFIN | tcpACK
	)
	cases := []struct {
		name  string
		proto string
		steps []lifeStep
	}{
		{"TCP closed with FIN", "tcp", []lifeStep{
			{false, tcpSYN, syn, toSyn},
			{true, synAck, syn, toSyn},
			{false, tcpACK, est, toEstablished},
			{true, tcpACK, est, toEstablished},
			{false, finAck, closing, toClosing},
			{true, finAck, closing, toClosing},
			{false, tcpACK, closing, toClosing},
		}},
		{"TCP reset by the far end", "tcp", []lifeStep{
			{false, tcpSYN, syn, toSyn},
			{true, synAck, syn, toSyn},
			{false, tcpACK, est, toEstablished},
			{true, tcpRST, closing, toClosing},
		}},
		{"TCP reset by the endpoint", "tcp", []lifeStep{
			{false, tcpSYN, syn, toSyn},
			{true, synAck, syn, toSyn},
			{false, tcpRST | tcpACK, closing, toClosing},
		}},
		{"TCP reopened with SYN after closing", "tcp", []lifeStep{
			{false, tcpSYN, syn, toSyn},
			{true, tcpRST | tcpACK, closing, toClosing},
			{false, tcpSYN, syn, toSyn},
		}},
		{"UDP", "udp", []lifeStep{
			{false, 0, loader.EnetCtStateCT_NEW, toUDP},
			{false, 0, loader.EnetCtStateCT_NEW, toUDP},
			{true, 0, loader.EnetCtStateCT_NEW, toUDPStream},
			{false, 0, loader.EnetCtStateCT_NEW, toUDPStream},
		}},
		{"ICMP echo", "icmp", []lifeStep{
			{false, 0, loader.EnetCtStateCT_NEW, toICMP},
			{true, 0, loader.EnetCtStateCT_NEW, toICMP},
			{false, 0, loader.EnetCtStateCT_NEW, toICMP},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			var orig, replies, origBytes, replyBytes uint64
			var created uint64
			for i, s := range tc.steps {
				fwd, back := lifePackets(tc.proto, s.tcp)
				p := fwd
				before := monoNow(t)
				if s.reply {
					p = back
					checkOut(t, n.fromUp(back, replyTo(m1)), back.delivered(m1, fwd.tuple().Src.Port()))
					replies, replyBytes = replies+1, replyBytes+uint64(len(back.ip(t)))
				} else {
					checkOut(t, n.fromEp(m1, fwd, snatOut), fwd.masqueraded(fwd.tuple().Src.Port()))
					orig, origBytes = orig+1, origBytes+uint64(len(fwd.ip(t)))
				}
				after := monoNow(t)
				n.checkFlows(masqFlow(m1, fwd, fwd.tuple().Src.Port()))
				f := n.flow(fwd.tuple())
				if i == 0 {
					created = f.CreatedNs
				}
				seen := f.Flags&loader.EnetCtFlagCT_F_SEEN_REPLY != 0
				if f.State != s.state || f.CreatedNs != created || seen != (replies > 0) ||
					f.PacketsOrig != orig || f.BytesOrig != origBytes || f.PacketsReply != replies || f.BytesReply != replyBytes {
					t.Errorf("after packet %d (%+v): state %d, created %d, seen reply %t, %d/%d bytes out, %d/%d bytes back; "+
						"want state %d, created %d, seen reply %t, %d/%d out, %d/%d back",
						i, p, f.State, f.CreatedNs, seen, f.PacketsOrig, f.BytesOrig, f.PacketsReply, f.BytesReply,
						s.state, created, replies > 0, orig, origBytes, replies, replyBytes)
				}
				checkExpiry(t, f, before, after, s.timeout)
			}
		})
	}
}

// lifePackets are m1's packet of the flow and remote's reply.
func lifePackets(proto string, tcp uint8) (fwd, back pkt) {
	switch proto {
	case "tcp":
		return out(m1, remote).tcp(40000, 80, tcp), in(remote, snatIP).tcp(80, 40000, tcp)
	case "udp":
		return out(m1, remote).udp(40000, 53), in(remote, snatIP).udp(53, 40000)
	}
	return out(m1, remote).echo(0x4242), in(remote, snatIP).echoReply(0x4242)
}

// TestStaleFlows: a flow whose conntrack entry expired, or is gone while its
// translations stay, or whose forward translation is gone while the rest
// stays, starts again with its next packet, from the same port, with fresh
// entries in place of the old. A gone entry is what the LRU eviction of a
// full enet_ct or enet_nat leaves, and the packet is counted as
// flow-evicted.
func TestStaleFlows(t *testing.T) {
	w := newNodeWorld(t)
	udp := out(m1, remote).udp(40000, 53)
	cases := []struct {
		name    string
		kill    func(n *node)
		evicted uint64
	}{
		{"expired", func(n *node) { n.expire(udp.tuple()) }, 0},
		{"conntrack entry gone", func(n *node) { n.forgetCT(udp.tuple()) }, 1},
		{"forward translation gone", func(n *node) { must(n.t, n.Maps.NAT.Delete(udp.tuple())) }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.fromEp(m1, udp, snatOut)
			n.fromEp(m1, udp, snatOut)
			first := n.flow(udp.tuple())
			tc.kill(n)
			before := monoNow(t)
			checkOut(t, n.fromEp(m1, udp, snatOut), udp.masqueraded(40000))
			after := monoNow(t)
			n.checkFlows(masqFlow(m1, udp, 40000))
			f := n.flow(udp.tuple())
			if f.CreatedNs < before || f.CreatedNs > after || f.CreatedNs == first.CreatedNs || f.PacketsOrig != 1 {
				t.Errorf("flow created at %d with %d packets; want a new one, created in [%d, %d], with 1",
					f.CreatedNs, f.PacketsOrig, before, after)
			}
			checkExpiry(t, f, before, after, toUDP)
			if got := n.counter(m1.Ifindex, flowEvicted); got.Packets != tc.evicted {
				t.Errorf("flow-evicted counts %d packets, want %d", got.Packets, tc.evicted)
			}
		})
	}
}
