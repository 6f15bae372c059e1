package bpftest

import (
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// lifeStep is one packet of a flow between m1 and remote, and what its
// conntrack entry says after it.
type lifeStep struct {
	reply   bool          // remote's packet on the uplink, else m1's
	later   time.Duration // how long after the packet before it
	timeout uint64
	assured bool
}

// TestFlowLife follows UDP and ICMP flows packet by packet (TCP's are
// TestTCPStates'): every packet of an existing flow is translated as the
// first was, the counters of its direction grow, and the expiry follows
// netfilter's rules: UDP is a stream, with its longer timeout, once
// replied and still going two seconds on, and only then assured; an ICMP
// flow never is.
func TestFlowLife(t *testing.T) {
	w := newNodeWorld(t)
	cases := []struct {
		name  string
		proto string
		steps []lifeStep
	}{
		{"UDP", "udp", []lifeStep{
			{false, 0, toUDP, false},
			{false, 0, toUDP, false},
			{true, 0, toUDP, false},
			{false, 0, toUDP, false},
			{false, 3 * time.Second, toUDPStream, true},
			{true, 0, toUDPStream, true},
		}},
		{"UDP never replied", "udp", []lifeStep{
			{false, 0, toUDP, false},
			{false, 3 * time.Second, toUDP, false},
		}},
		{"ICMP echo", "icmp", []lifeStep{
			{false, 0, toICMP, false},
			{true, 0, toICMP, false},
			{false, 3 * time.Second, toICMP, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			var orig, replies, origBytes, replyBytes uint64
			var created uint64
			for i, s := range tc.steps {
				fwd, back := lifePackets(tc.proto)
				p := fwd
				if s.later != 0 {
					n.age(fwd.tuple(), s.later)
					created -= uint64(s.later)
				}
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
				n.checkFlows(masqFlow(m1, fwd, fwd.tuple().Src.Port()).assuredIf(s.assured))
				f := n.flow(fwd.tuple())
				if i == 0 {
					created = f.CreatedNs
				}
				seen := f.Flags&loader.EnetCtFlagCT_F_SEEN_REPLY != 0
				// The state bpftool shows: new until a reply, then replied.
				state := loader.EnetCtStateCT_NEW
				if replies > 0 {
					state = loader.EnetCtStateCT_REPLIED
				}
				if f.State != state || f.CreatedNs != created || seen != (replies > 0) ||
					f.PacketsOrig != orig || f.BytesOrig != origBytes || f.PacketsReply != replies || f.BytesReply != replyBytes {
					t.Errorf("after packet %d (%+v): state %d, created %d, seen reply %t, %d/%d bytes out, %d/%d bytes back; "+
						"want state %d, created %d, seen reply %t, %d/%d out, %d/%d back",
						i, p, f.State, f.CreatedNs, seen, f.PacketsOrig, f.BytesOrig, f.PacketsReply, f.BytesReply,
						state, created, replies > 0, orig, origBytes, replies, replyBytes)
				}
				checkExpiry(t, f, before, after, s.timeout)
			}
		})
	}
}

// lifePackets are m1's packet of the flow and remote's reply.
func lifePackets(proto string) (fwd, back pkt) {
	switch proto {
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
