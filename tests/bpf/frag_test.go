package bpftest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// What bpf/lib/frag.h is built with.
const (
	fragRequeue = loader.EnetReasonREASON_FRAG_REQUEUE
	markFrag    = 0x454e4600 // ENET_MARK_FRAG: a requeued fragment's mark, its rounds in the low byte
	fragRounds  = 3          // FRAG_REQUEUE_MAX
	fragTimeout = 30e9       // FRAG_TIMEOUT_NS
	fragLinger  = 10e6       // FRAG_LINGER_NS
	ipID        = 0x4e45     // every test packet's IP id (pkt.ip)

	fragSize   = 1480 // payload bytes a fragment carries, as on a 1500-byte link
	bigPayload = 3000 // UDP data that takes three fragments: 1480, 1480 and 48 bytes
)

func requeued(ifindex int) verdict { return verdict{ActRedirect, fragRequeue, ifindex} }

// big is p with a payload that goes in three fragments.
func (p pkt) big() pkt {
	p.payload = make([]byte, bigPayload)
	for i := range p.payload {
		p.payload[i] = byte(i % 251)
	}
	return p
}

// frags is p cut into fragments as a 1500-byte link would.
func frags(t testing.TB, p pkt) [][]byte {
	t.Helper()
	return Fragments(t, p.bytes(t), fragSize)
}

// fragFromEp runs enet_from_ep on a fragment e sends, the skb's mark
// mark (a requeued fragment's rounds).
func (n *node) fragFromEp(e Endpoint, frame []byte, mark uint32, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetFromEp, SkBuff{IngressIfindex: uint32(e.Ifindex), Mark: mark}, e.Ifindex, frame, want)
}

// fragFromUp runs enet_from_up on a fragment arriving on the uplink.
func (n *node) fragFromUp(frame []byte, mark uint32, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetFromUp, SkBuff{IngressIfindex: uplinkIdx, Mark: mark}, uplinkIdx, frame, want)
}

// checkFrag fails unless a program left a fragment as want, its IP header
// checksum right.
func checkFrag(t testing.TB, r Result, want []byte) {
	t.Helper()
	if !bytes.Equal(r.Packet, want) {
		t.Errorf("fragment out\n%x\nwant\n%x", r.Packet, want)
	}
	CheckIPHeader(t, r.Packet)
}

// checkDatagram fails unless the fragments a program left, put together,
// make a datagram whose every checksum verifies.
func checkDatagram(t testing.TB, outs [][]byte) {
	t.Helper()
	CheckChecksums(t, Reassemble(t, outs))
}

// through runs in's fragments in order, each through run with the verdict
// want, and checks they leave as out's fragments and make a whole datagram.
func through(t testing.TB, in, out pkt, run func(frame []byte) Result) {
	t.Helper()
	ins, wants := frags(t, in), frags(t, out)
	var outs [][]byte
	for i := range ins {
		r := run(ins[i])
		checkFrag(t, r, wants[i])
		outs = append(outs, r.Packet)
	}
	checkDatagram(t, outs)
}

// fragEntry is the enet_frags entry of p's datagram, its fragments
// arriving on ifindex, seen bytes of it seen and total once its last came.
func fragEntry(p pkt, ifindex int, seen, total uint32) maps.Frag {
	tu := p.tuple()
	return maps.Frag{
		Src: p.src, Dst: p.dst, Ifindex: ifindex, ID: ipID, Proto: uint8(p.proto),
		Sport: tu.Src.Port(), Dport: tu.Dst.Port(), TCPFlags: p.tcpFlags, Seen: seen, Total: total,
	}
}

// udpLen is the IP payload of a UDP datagram with the big payload.
const udpLen = 8 + bigPayload

// checkFragEntries fails unless enet_frags holds exactly these entries,
// their expiry aside; it returns the entries it holds.
func (n *node) checkFragEntries(want ...maps.Frag) []maps.Frag {
	n.t.Helper()
	got, err := n.Maps.Frags.All()
	must(n.t, err)
	str := func(fs []maps.Frag) string {
		var s []string
		for _, f := range fs {
			f.ExpiresNs = 0
			s = append(s, fmt.Sprintf("%+v", f))
		}
		slices.Sort(s)
		return strings.Join(s, "\n\t")
	}
	if str(got) != str(want) {
		n.t.Errorf("enet_frags holds\n\t%s\nwant\n\t%s", str(got), str(want))
	}
	return got
}

// checkFragExpiry fails unless the one enet_frags entry expires ttl ns
// after a moment between before and after.
func (n *node) checkFragExpiry(before, after, ttl uint64) {
	n.t.Helper()
	got, err := n.Maps.Frags.All()
	must(n.t, err)
	if len(got) != 1 {
		n.t.Fatalf("enet_frags holds %d entries, want one", len(got))
	}
	if e := got[0].ExpiresNs; e < before+ttl || e > after+ttl {
		n.t.Errorf("entry expires at %d, want %d ns from now: in [%d, %d]", e, ttl, before+ttl, after+ttl)
	}
}

// expireFrags moves the expiry of every enet_frags entry into the past.
func (n *node) expireFrags() {
	n.t.Helper()
	all, err := n.Maps.Frags.All()
	must(n.t, err)
	for _, f := range all {
		f.ExpiresNs = 1
		must(n.t, n.Maps.Frags.Put(f))
	}
}

// TestFragments: IPv4 fragments on every translated path. The first
// fragment of a datagram is translated as any packet and records its
// ports; the later ones, which carry none, get the same translation from
// that record, addresses and IP checksum only. A later fragment that
// comes before its first goes round the ingress queue a few times to wait
// for it; one still unmatched is never translated by a guess.
func TestFragments(t *testing.T) {
	w := newNodeWorld(t)
	t.Run("masquerade", func(t *testing.T) { fragMasquerade(t, w) })
	t.Run("out of order", func(t *testing.T) { fragOutOfOrder(t, w) })
	t.Run("entries", func(t *testing.T) { fragEntries(t, w) })
	t.Run("published", func(t *testing.T) { fragPublished(t, w) })
	t.Run("node", func(t *testing.T) { fragNode(t, w) })
}

// fragMasquerade: an endpoint's datagram in fragments leaves masqueraded,
// the first fragment starting the flow, and the replies come back.
func fragMasquerade(t *testing.T, w *nodeWorld) {
	udp := out(m1, remote).udp(40000, 53).big()
	t.Run("first fragment starts the flow and records the datagram", func(t *testing.T) {
		n := w.node(t)
		first := frags(t, udp)[0]
		before := monoNow(t)
		checkFrag(t, n.fragFromEp(m1, first, 0, snatOut), frags(t, udp.masqueraded(40000))[0])
		after := monoNow(t)
		n.checkFlows(masqFlow(m1, udp, 40000))
		n.checkFragEntries(fragEntry(udp, m1.Ifindex, fragSize, 0))
		n.checkFragExpiry(before, after, fragTimeout)
	})
	t.Run("later fragments follow it", func(t *testing.T) {
		n := w.node(t)
		before := monoNow(t)
		through(t, udp, udp.masqueraded(40000), func(f []byte) Result { return n.fragFromEp(m1, f, 0, snatOut) })
		after := monoNow(t)
		n.checkFlows(masqFlow(m1, udp, 40000))
		f := n.flow(udp.tuple())
		if f.PacketsOrig != 3 || f.BytesOrig != uint64(udpLen+3*20) {
			t.Errorf("flow counts %d packets, %d bytes; want 3, %d", f.PacketsOrig, f.BytesOrig, udpLen+3*20)
		}
		// Whole: it lingers for duplicates, no longer.
		n.checkFragEntries(fragEntry(udp, m1.Ifindex, udpLen, udpLen))
		n.checkFragExpiry(before, after, fragLinger)
	})
	t.Run("replies in fragments", func(t *testing.T) {
		n := w.node(t)
		n.fromEp(m1, out(m1, remote).udp(40000, 53), snatOut)
		reply := in(remote, snatIP).udp(53, 40000).big()
		through(t, reply, reply.delivered(m1, 40000), func(f []byte) Result { return n.fragFromUp(f, 0, replyTo(m1)) })
		n.checkFlows(masqFlow(m1, udp, 40000))
		if f := n.flow(udp.tuple()); f.PacketsReply != 3 {
			t.Errorf("flow counts %d replies, want 3", f.PacketsReply)
		}
	})
	t.Run("a source port taken", func(t *testing.T) {
		n := w.node(t)
		n.narrowPorts()
		n.fromEp(m2, out(m2, remote).udp(40000, 53), snatOut)
		through(t, udp, udp.masqueraded(portMin), func(f []byte) Result { return n.fragFromEp(m1, f, 0, snatOut) })
		n.checkFlows(masqFlow(m2, out(m2, remote).udp(40000, 53), 40000), masqFlow(m1, udp, portMin))
	})
	t.Run("ICMP echo", func(t *testing.T) {
		n := w.node(t)
		ping := out(m1, remote).echo(0x4242).big()
		through(t, ping, ping.masqueraded(0x4242), func(f []byte) Result { return n.fragFromEp(m1, f, 0, snatOut) })
		pong := in(remote, snatIP).echoReply(0x4242).big()
		through(t, pong, pong.delivered(m1, 0x4242), func(f []byte) Result { return n.fragFromUp(f, 0, replyTo(m1)) })
		n.checkFlows(masqFlow(m1, ping, 0x4242))
	})
	t.Run("masquerade off", func(t *testing.T) {
		n := w.node(t)
		rUDP := out(r1, remote).udp(40000, 53).big()
		through(t, rUDP, rUDP.routed(), func(f []byte) Result { return n.fragFromEp(r1, f, 0, routedOut) })
		n.checkFlows()
	})
	// Not to the kernel with the rest of what has its next hop unresolved
	// (egress_unresolved): enet_to_up could not tell a later fragment's
	// ports. bpf_redirect_neigh resolves it, and fills the MACs in.
	t.Run("next hop unresolved", func(t *testing.T) {
		n := w.node(t)
		unres := out(m1, noNeigh).udp(40000, 53).big()
		through(t, unres, unres.with(func(p *pkt) { p.src, p.ttl = snatIP, 63 }),
			func(f []byte) Result { return n.fragFromEp(m1, f, 0, snatOut) })
		n.checkFlows(masqFlow(m1, unres, 40000))
	})
	// The FIB's answer holds for fragments as for any packet: one over the
	// uplink's MTU without DF cannot be fragmented further here.
	t.Run("a fragment over the uplink's MTU", func(t *testing.T) {
		n := w.node(t)
		huge := Fragments(t, udp.bytes(t), 1600)[0]
		n.fragFromEp(m1, huge, 0, shot(tooBig))
		n.checkFlows()
	})
}

// fragOutOfOrder: a later fragment before its first waits a few rounds of
// the ingress queue, then is translated if its first came meanwhile; one
// whose first never comes is dropped where it needs a translation, and
// left to the node's stack on the uplink, untranslated.
func fragOutOfOrder(t *testing.T, w *nodeWorld) {
	udp := out(m1, remote).udp(40000, 53).big()
	ins, wants := frags(t, udp), frags(t, udp.masqueraded(40000))
	t.Run("first fragment last", func(t *testing.T) {
		n := w.node(t)
		for _, i := range []int{2, 1} {
			r := n.fragFromEp(m1, ins[i], 0, requeued(m1.Ifindex))
			checkFrag(t, r, ins[i])
			if r.Skb.Mark != markFrag|1 {
				t.Errorf("mark %#x, want %#x", r.Skb.Mark, markFrag|1)
			}
		}
		n.checkFlows()
		n.checkFragEntries()
		checkFrag(t, n.fragFromEp(m1, ins[0], 0, snatOut), wants[0])
		outs := [][]byte{wants[0]}
		for _, i := range []int{2, 1} {
			r := n.fragFromEp(m1, ins[i], markFrag|1, snatOut)
			checkFrag(t, r, wants[i])
			if r.Skb.Mark != enetMarkOut {
				t.Errorf("mark %#x, want the datapath's own, %#x", r.Skb.Mark, enetMarkOut)
			}
			outs = append(outs, r.Packet)
		}
		checkDatagram(t, outs)
		n.checkFlows(masqFlow(m1, udp, 40000))
	})
	t.Run("rounds counted in the mark", func(t *testing.T) {
		n := w.node(t)
		r := n.fragFromEp(m1, ins[1], markFrag|2, requeued(m1.Ifindex))
		if r.Skb.Mark != markFrag|3 {
			t.Errorf("mark %#x, want %#x", r.Skb.Mark, markFrag|3)
		}
	})
	t.Run("first fragment never came", func(t *testing.T) {
		n := w.node(t)
		n.fragFromEp(m1, ins[1], markFrag|fragRounds, shot(fragment))
		n.checkFlows()
		n.checkFragEntries()
	})
	t.Run("first fragment never came, masquerade off", func(t *testing.T) {
		n := w.node(t)
		rUDP := out(r1, remote).udp(40000, 53).big()
		checkFrag(t, n.fragFromEp(r1, frags(t, rUDP)[1], markFrag|fragRounds, routedOut), frags(t, rUDP.routed())[1])
	})
	// The node's own datagrams may come in any order: the kernel
	// reassembles them. A translated flow's fragment is dropped there as
	// incomplete, since its first went on to the endpoint.
	t.Run("first fragment never came, on the uplink", func(t *testing.T) {
		n := w.node(t)
		n.fromEp(m1, out(m1, remote).udp(40000, 53), snatOut)
		reply := frags(t, in(remote, snatIP).udp(53, 40000).big())[1]
		r := n.fragFromUp(reply, markFrag|fragRounds, toStack)
		checkFrag(t, r, reply)
		if r.Skb.Mark != 0 {
			t.Errorf("mark %#x left on a packet for the node's stack", r.Skb.Mark)
		}
	})
	t.Run("first fragment last, on the uplink", func(t *testing.T) {
		n := w.node(t)
		n.fromEp(m1, out(m1, remote).udp(40000, 53), snatOut)
		reply := in(remote, snatIP).udp(53, 40000).big()
		rin, rwant := frags(t, reply), frags(t, reply.delivered(m1, 40000))
		n.fragFromUp(rin[2], 0, requeued(uplinkIdx))
		checkFrag(t, n.fragFromUp(rin[0], 0, replyTo(m1)), rwant[0])
		checkFrag(t, n.fragFromUp(rin[2], markFrag|1, replyTo(m1)), rwant[2])
		checkFrag(t, n.fragFromUp(rin[1], 0, replyTo(m1)), rwant[1])
	})
}

// fragEntries: how long a datagram's record lives, and what a second
// first fragment does to it.
func fragEntries(t *testing.T, w *nodeWorld) {
	udp := out(m1, remote).udp(40000, 53).big()
	other := out(m1, remote).udp(40001, 53).big() // the same IP id, other ports
	ins, wants := frags(t, udp), frags(t, udp.masqueraded(40000))
	t.Run("expired record", func(t *testing.T) {
		n := w.node(t)
		n.fragFromEp(m1, ins[0], 0, snatOut)
		n.expireFrags()
		n.fragFromEp(m1, ins[1], 0, requeued(m1.Ifindex))
		// A first fragment replaces it.
		n.fragFromEp(m1, ins[0], 0, snatOut)
		n.checkFragEntries(fragEntry(udp, m1.Ifindex, fragSize, 0))
	})
	// A duplicate counts twice and makes the record look whole before
	// the datagram is: the record lingers, so the rest still follows.
	t.Run("duplicate fragments", func(t *testing.T) {
		n := w.node(t)
		outs := map[int][]byte{}
		before := monoNow(t)
		for _, i := range []int{0, 0, 2, 1} {
			r := n.fragFromEp(m1, ins[i], 0, snatOut)
			checkFrag(t, r, wants[i])
			outs[i] = r.Packet
		}
		after := monoNow(t)
		checkDatagram(t, [][]byte{outs[0], outs[1], outs[2]})
		n.checkFragEntries(fragEntry(udp, m1.Ifindex, udpLen+fragSize, udpLen))
		n.checkFragExpiry(before, after, fragLinger)
	})
	t.Run("overlapping first fragments", func(t *testing.T) {
		n := w.node(t)
		n.fragFromEp(m1, ins[0], 0, snatOut)
		before := monoNow(t)
		n.fragFromEp(m1, frags(t, other)[0], 0, shot(fragment))
		after := monoNow(t)
		conflict := fragEntry(udp, m1.Ifindex, fragSize, 0)
		conflict.Conflict = true
		n.checkFragEntries(conflict)
		n.checkFragExpiry(before, after, fragLinger)
		// Neither datagram goes on, as the kernel's reassembly would have
		// neither; no flow starts for the second.
		n.fragFromEp(m1, ins[1], 0, shot(fragment))
		n.fragFromEp(m1, frags(t, other)[0], 0, shot(fragment))
		n.checkFlows(masqFlow(m1, udp, 40000))
	})
	t.Run("IP id reused after the datagram was whole", func(t *testing.T) {
		n := w.node(t)
		for _, f := range ins {
			n.fragFromEp(m1, f, 0, snatOut)
		}
		through(t, other, other.masqueraded(40001), func(f []byte) Result { return n.fragFromEp(m1, f, 0, snatOut) })
		n.checkFlows(masqFlow(m1, udp, 40000), masqFlow(m1, other, 40001))
	})
	// Past its linger, a whole datagram's ports are no one's: the later
	// fragment of the next one with its id waits for its own first.
	t.Run("IP id reused, first fragment last", func(t *testing.T) {
		n := w.node(t)
		for _, f := range ins {
			n.fragFromEp(m1, f, 0, snatOut)
		}
		n.expireFrags()
		n.fragFromEp(m1, frags(t, other)[1], 0, requeued(m1.Ifindex))
		n.fragFromEp(m1, frags(t, other)[0], 0, snatOut)
		checkFrag(t, n.fragFromEp(m1, frags(t, other)[1], markFrag|1, snatOut), frags(t, other.masqueraded(40001))[1])
	})
	t.Run("later fragment of a flow that is gone", func(t *testing.T) {
		n := w.node(t)
		n.fragFromEp(m1, ins[0], 0, snatOut)
		n.expire(udp.tuple())
		n.fragFromEp(m1, ins[1], 0, shot(fragment))
		n.checkFlows()
	})
}

// fragPublished: datagrams in fragments to a published UDP port reach the
// endpoint behind it, from the uplink and from other endpoints, and its
// large answers go back; none reaches the node's stack, where the
// daemon's socket holding the port would pile them up.
func fragPublished(t *testing.T, w *nodeWorld) {
	dns := in(remote, snatIP).udp(40000, 5353).big()
	t.Run("from the uplink", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		through(t, dns, dns.delivered(m1, 53), func(f []byte) Result { return n.fragFromUp(f, 0, dnatTo(m1)) })
		n.checkFlows(dnatFlow(m1, dns, 53))
		n.checkFragEntries(fragEntry(dns, uplinkIdx, udpLen, udpLen))
	})
	t.Run("a large answer", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		n.fromUp(in(remote, snatIP).udp(40000, 5353), dnatTo(m1))
		ans := out(m1, remote).udp(53, 40000).big()
		through(t, ans, ans.masqueraded(5353), func(f []byte) Result { return n.fragFromEp(m1, f, 0, replyOut) })
		n.checkFlows(dnatFlow(m1, dns, 53))
	})
	t.Run("hairpin and its answer", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		hp := out(m2, snatIP).udp(40000, 5353).big()
		through(t, hp, hp.hairpinned(m1, 40000, 53), func(f []byte) Result { return n.fragFromEp(m2, f, 0, hairpinTo(m1)) })
		n.checkFlows(hairpinFlow(m1, hp, 40000, 53))
		ans := out(m1, masqNet.Gateway).udp(53, 40000).big()
		back := ans.delivered(m2, 40000).from(snatIP, 5353)
		through(t, ans, back, func(f []byte) Result { return n.fragFromEp(m1, f, 0, hairpinTo(m2)) })
	})
	t.Run("later fragment never starts a flow", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		ins := frags(t, dns)
		n.fragFromUp(ins[0], 0, dnatTo(m1))
		n.expire(dns.tuple())
		n.fragFromUp(ins[1], 0, toStack)
		n.checkFlows()
	})
	// The endpoint's kernel gives up a datagram that lost a fragment and
	// says so, quoting its first fragment, which carries the ports.
	t.Run("reassembly timeout about a first fragment", func(t *testing.T) {
		n := w.node(t)
		n.publish()
		n.fragFromUp(frags(t, dns)[0], 0, dnatTo(m1))
		received := dns.delivered(m1, 53).with(func(p *pkt) { p.mf = true })
		timeout := out(m1, remote).icmpError(11, 1, 0, quote(t, received, 28))
		checkOut(t, n.fromEp(m1, timeout, replyOut), timeout.masqueraded(0).with(func(p *pkt) {
			p.payload = requote(t, received, received.to(snatIP, 5353), 28)
		}))
	})
}

// fragNode: the node's own datagrams in fragments, out and in.
func fragNode(t *testing.T, w *nodeWorld) {
	nodeUDP := host(remote).udp(5353, 53).big()
	t.Run("to the node, no flow", func(t *testing.T) {
		n := w.node(t)
		in := in(remote, snatIP).udp(53, 9999).big()
		through(t, in, in, func(f []byte) Result { return n.fragFromUp(f, 0, toStack) })
		n.checkFlows()
	})
	t.Run("sent by the node", func(t *testing.T) {
		n := w.node(t)
		ins := frags(t, nodeUDP)
		checkFrag(t, n.step(n.EnetToUp, SkBuff{Ifindex: uplinkIdx}, uplinkIdx, ins[0], hostPass), ins[0])
		for _, f := range ins[1:] {
			r := n.RunSkb(n.EnetToUp, SkBuff{Ifindex: uplinkIdx}, f)
			if r.Ret != ActOK || len(r.Events) != 0 || !bytes.Equal(r.Packet, f) {
				t.Errorf("later fragment: return code %d, %d events, changed %v; want it passed untouched",
					r.Ret, len(r.Events), !bytes.Equal(r.Packet, f))
			}
		}
		n.checkFlows(hostFlowOf(nodeUDP, 5353))
		n.checkFragEntries()
	})
	// Only its first fragment changes: the port is there.
	t.Run("sent by the node on a masqueraded flow's port", func(t *testing.T) {
		n := w.node(t)
		n.narrowPorts()
		udp1 := out(m1, remote).udp(5353, 53)
		n.fromEp(m1, udp1, snatOut)
		ins, wants := frags(t, nodeUDP), frags(t, nodeUDP.withSport(portMin))
		outs := [][]byte{n.step(n.EnetToUp, SkBuff{Ifindex: uplinkIdx}, uplinkIdx, ins[0], hostPass).Packet}
		checkFrag(t, Result{Packet: outs[0]}, wants[0])
		for i, f := range ins[1:] {
			r := n.RunSkb(n.EnetToUp, SkBuff{Ifindex: uplinkIdx}, f)
			checkFrag(t, r, wants[i+1])
			outs = append(outs, r.Packet)
		}
		checkDatagram(t, outs)
		reply := in(remote, snatIP).udp(53, portMin).big()
		through(t, reply, reply.withDport(5353), func(f []byte) Result { return n.fragFromUp(f, 0, toStack) })
		n.checkFlows(masqFlow(m1, udp1, 5353), hostFlowOf(nodeUDP, portMin))
	})
}

// TestFragmentsGC: the daemon's GC removes the records of datagrams that
// expired over a second ago, and keeps the rest.
func TestFragmentsGC(t *testing.T) {
	n := newNodeWorld(t).node(t)
	now := monoNow(t)
	entry := func(id uint16, expires uint64) maps.Frag {
		f := fragEntry(out(m1, remote).udp(40000, 53), m1.Ifindex, fragSize, 0)
		f.ID, f.ExpiresNs = id, expires
		return f
	}
	dead, recent, live := entry(1, now-2e9), entry(2, now-1e8), entry(3, now+1e9)
	for _, f := range []maps.Frag{dead, recent, live} {
		must(t, n.Maps.Frags.Put(f))
	}
	got, err := maps.CollectFrags(n.Maps.Frags, now)
	must(t, err)
	if got != 1 {
		t.Errorf("collected %d, want 1", got)
	}
	n.checkFragEntries(recent, live)
}
