package bpftest

import (
	"slices"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// What bpf/lib/frag.h's detour is built with.
const (
	markDefrag      = 0x454e4400 // ENET_MARK_DEFRAG: a fragment back from the helper
	fragDetour      = loader.EnetReasonREASON_FRAG_DETOUR
	fragReassembled = loader.EnetReasonREASON_FRAG_REASSEMBLED
)

var (
	detoured    = verdict{ActRedirect, fragDetour, defragIdx}
	reassembled = verdict{ActRedirect, fragReassembled, uplinkIdx}
)

// withDetour gives the node its helper namespace, as the daemon does once
// the helper reassembles.
func (n *node) withDetour() {
	c := nodeConfig()
	c.DefragIfindex = defragIdx
	n.SetConfig(c)
}

// detourEntry is the enet_frags entry of p's datagram once it takes the
// detour: no ports, no bytes counted.
func detourEntry(p pkt) maps.Frag {
	return maps.Frag{Src: p.src, Dst: p.dst, Ifindex: uplinkIdx, ID: ipID, Proto: uint8(p.proto), Detoured: true}
}

// fromDfrg runs enet_from_dfrg on a fragment the helper sends back.
func (n *node) fromDfrg(frame []byte, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetFromDfrg, SkBuff{IngressIfindex: defragIdx}, defragIdx, frame, want)
}

// forwarded is a fragment as the helper's kernel forwards it back: one
// hop less, its header checksum made again.
func forwarded(frame []byte) []byte {
	f := slices.Clone(frame)
	ip := f[14:]
	ip[8]--
	setIPChecksum(ip[:int(ip[0]&0xf)*4])
	return f
}

// checkMark fails unless a run left the skb's mark as want.
func checkMark(t testing.TB, r Result, want uint32) {
	t.Helper()
	if r.Skb.Mark != want {
		t.Errorf("mark %#x, want %#x", r.Skb.Mark, want)
	}
}

// detour sends a datagram's fragments to enet_from_up in the order given,
// a later one first, and checks that every one goes to the helper as it
// came.
func (n *node) detour(ins [][]byte, order ...int) {
	n.t.Helper()
	for _, i := range order {
		r := n.fragFromUp(ins[i], 0, detoured)
		checkFrag(n.t, r, ins[i])
		checkMark(n.t, r, 0)
	}
}

// giveBack has the helper send a datagram's fragments back, in order, and
// enet_from_up take each with the verdict want; it returns what left.
func (n *node) giveBack(ins [][]byte, want verdict) [][]byte {
	n.t.Helper()
	var outs [][]byte
	for _, f := range ins {
		back := n.fromDfrg(forwarded(f), reassembled)
		checkFrag(n.t, back, f)
		checkMark(n.t, back, markDefrag)
		r := n.fragFromUp(back.Packet, back.Skb.Mark, want)
		checkMark(n.t, r, 0)
		outs = append(outs, r.Packet)
	}
	return outs
}

// TestFragmentDetour: on the uplink, a datagram whose later fragment comes
// before its first goes, all of it, to the helper namespace, whose kernel
// reassembles it and sends it back cut again in order; enet_from_dfrg
// hands that to the uplink's ingress marked, and enet_from_up translates
// it as any datagram in order. A marked fragment never takes the detour
// again; where the daemon has no helper, or off the uplink, a fragment
// waits in the ingress queue as before.
func TestFragmentDetour(t *testing.T) {
	w := newNodeWorld(t)
	dns := in(remote, snatIP).udp(40000, 5353).big()
	ins := frags(t, dns)
	t.Run("to a published port, first fragment last", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		n.withDetour()
		n.detour(ins, 2, 1)
		n.checkFragEntries(detourEntry(dns))
		n.detour(ins, 0)
		n.checkFlows()
		n.checkFragEntries(detourEntry(dns))
		outs := n.giveBack(ins, dnatTo(m1))
		for i, want := range frags(t, dns.delivered(m1, 53)) {
			checkFrag(t, Result{Packet: outs[i]}, want)
		}
		checkDatagram(t, outs)
		n.checkFlows(dnatFlow(m1, dns, 53))
		n.checkFragEntries(fragEntry(dns, uplinkIdx, udpLen, udpLen))
	})
	t.Run("a masqueraded flow's reply, first fragment last", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		udp := out(m1, remote).udp(40000, 53)
		n.fromEp(m1, udp, snatOut)
		reply := in(remote, snatIP).udp(53, 40000).big()
		rin := frags(t, reply)
		n.detour(rin, 1, 2, 0)
		outs := n.giveBack(rin, replyTo(m1))
		for i, want := range frags(t, reply.delivered(m1, 40000)) {
			checkFrag(t, Result{Packet: outs[i]}, want)
		}
		if f := n.flow(udp.tuple()); f.PacketsReply != 3 {
			t.Errorf("flow counts %d replies, want the 3 fragments that came back", f.PacketsReply)
		}
	})
	// The node's own datagram comes back to its stack, which reassembles
	// it as it would have.
	t.Run("to the node", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		own := in(remote, snatIP).udp(53, 9999).big()
		oin := frags(t, own)
		n.detour(oin, 2, 1, 0)
		outs := n.giveBack(oin, toStack)
		for i := range oin {
			checkFrag(t, Result{Packet: outs[i]}, oin[i])
		}
		n.checkFlows()
	})
	t.Run("a duplicate of a detoured fragment follows it", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		n.detour(ins, 1, 1)
		n.checkFragEntries(detourEntry(dns))
	})
	// Back from the helper, a fragment whose first did not come back
	// first is left untranslated, never sent round again.
	t.Run("a returned fragment is never detoured again", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		n.withDetour()
		r := n.fragFromUp(ins[1], markDefrag, toStack)
		checkFrag(t, r, ins[1])
		checkMark(t, r, 0)
		n.checkFragEntries()
		n.detour(ins, 2)
		r = n.fragFromUp(ins[1], markDefrag, toStack)
		checkMark(t, r, 0)
		n.checkFragEntries(detourEntry(dns))
		n.checkFlows()
	})
	// Past the kernel's ipfrag_time, the helper has let the datagram go:
	// a later fragment starts a new detour, a first one goes on alone.
	t.Run("an expired detour", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		n.detour(ins, 2)
		n.expireFrags()
		n.detour(ins, 1)
		n.checkFragEntries(detourEntry(dns))
		n.expireFrags()
		n.fragFromUp(ins[0], 0, toStack)
		n.checkFragEntries(fragEntry(dns, uplinkIdx, fragSize, 0))
	})
	// The helper forwards what it reassembles: a datagram whose TTL ends
	// there would be lost.
	t.Run("TTL 1 waits in the queue", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		last := frags(t, dns.with(func(p *pkt) { p.ttl = 1 }))[2]
		n.fragFromUp(last, 0, requeued(uplinkIdx))
		n.checkFragEntries()
	})
	t.Run("multicast waits in the queue", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		mcast := in(remote, addr("239.1.2.3")).udp(40000, 5353).big()
		n.fragFromUp(frags(t, mcast)[2], 0, requeued(uplinkIdx))
		n.checkFragEntries()
	})
	t.Run("endpoint egress waits in the queue", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		udp := out(m1, remote).udp(40000, 53).big()
		n.fragFromEp(m1, frags(t, udp)[1], 0, requeued(m1.Ifindex))
		n.checkFragEntries()
	})
	t.Run("no helper: the uplink's queue", func(t *testing.T) {
		n := w.node(t)
		r := n.fragFromUp(ins[2], 0, requeued(uplinkIdx))
		checkMark(t, r, markFrag|1)
		n.checkFragEntries()
	})
	t.Run("the helper sends what is not a fragment", func(t *testing.T) {
		n := w.node(t)
		n.withDetour()
		n.fromDfrg(forwarded(in(remote, snatIP).udp(53, 9999).bytes(t)), shot(malformed))
	})
}
