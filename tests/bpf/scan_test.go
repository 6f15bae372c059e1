package bpftest

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// TestTCPFirstPacket: a TCP segment of no known flow starts one only if it
// is a SYN or a bare ACK (a connection picked up mid-stream, tested in
// TestTCPStates). A RST, FIN, SYN-ACK or a segment without flags (what a
// port scan sends and is answered with) starts none, whichever way it
// goes: an endpoint's is dropped, having no translation; one from the
// uplink is the node's; the node's own (refusing or answering a scan's
// SYN) passes unrecorded.
func TestTCPFirstPacket(t *testing.T) {
	w := newNodeWorld(t)
	var (
		toRemote    = func(flags uint8) pkt { return out(m1, remote).tcp(40000, 80, flags) }
		toPublished = func(flags uint8) pkt { return in(remote, snatIP).tcp(40000, 8080, flags) }
		fromNode    = func(flags uint8) pkt { return host(remote).tcp(8080, 40000, flags) }
		hairpin     = out(m2, snatIP).tcp(40000, 8080, tcpRST)
		ack         = toPublished(tcpACK)
		nodeAck     = fromNode(tcpACK)
	)
	type run func(n *node, p pkt, want verdict) Result
	var (
		fromM1 run = func(n *node, p pkt, want verdict) Result { return n.fromEp(m1, p, want) }
		fromM2 run = func(n *node, p pkt, want verdict) Result { return n.fromEp(m2, p, want) }
		fromUp run = (*node).fromUp
		toUp   run = (*node).toUp
	)
	cases := []struct {
		name  string
		run   run
		in    pkt
		want  verdict
		out   pkt // zero: the packet passes unchanged
		flows []flow
	}{
		{"endpoint's RST", fromM1, toRemote(tcpRST), shot(tcpNoFlow), pkt{}, nil},
		{"endpoint's RST-ACK", fromM1, toRemote(rstAck), shot(tcpNoFlow), pkt{}, nil},
		{"endpoint's FIN", fromM1, toRemote(finAck), shot(tcpNoFlow), pkt{}, nil},
		{"endpoint's SYN-ACK", fromM1, toRemote(synAck), shot(tcpNoFlow), pkt{}, nil},
		{"endpoint's segment without flags", fromM1, toRemote(0), shot(tcpNoFlow), pkt{}, nil},
		{"endpoint's RST to a published port: the node's", fromM2, hairpin, passed, pkt{}, nil},
		{"RST to a published port", fromUp, toPublished(tcpRST), toStack, pkt{}, nil},
		{"FIN to a published port", fromUp, toPublished(finAck), toStack, pkt{}, nil},
		{"SYN-ACK to a published port", fromUp, toPublished(synAck), toStack, pkt{}, nil},
		{"segment without flags to a published port", fromUp, toPublished(0), toStack, pkt{}, nil},
		{"ACK to a published port, picked up", fromUp, ack, dnatTo(m1), ack.delivered(m1, 80),
			[]flow{dnatFlow(m1, ack, 80)}},
		{"the node refusing a SYN", toUp, fromNode(rstAck), hostPass, pkt{}, nil},
		{"the node answering a SYN", toUp, fromNode(synAck), hostPass, pkt{}, nil},
		{"the node's FIN", toUp, fromNode(finAck), hostPass, pkt{}, nil},
		{"the node's ACK, picked up", toUp, nodeAck, hostPass, pkt{}, []flow{hostFlowOf(nodeAck, 8080)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := w.node(t)
			n.publish()
			n.checkRun(tc.run(n, tc.in, tc.want), tc.in, tc.out, tc.flows)
		})
	}
}

// TestRefusedThenPublished: the node refuses a client's SYN to a port
// nothing publishes yet; once the port is published, the client's next
// SYN from the same port reaches the endpoint. The node's RST left
// nothing behind to send it to the node again.
func TestRefusedThenPublished(t *testing.T) {
	w := newNodeWorld(t)
	n := w.node(t)
	syn := in(remote, snatIP).tcp(40000, 8080, tcpSYN)
	n.fromUp(syn, toStack)
	n.toUp(host(remote).tcp(8080, 40000, rstAck), hostPass)
	n.checkFlows()
	n.publish()
	n.checkRun(n.fromUp(syn, dnatTo(m1)), syn, syn.delivered(m1, 80), []flow{dnatFlow(m1, syn, 80)})
}

// Sizes of the flow maps in TestScanPressure: far fewer than a scan's
// probes.
const (
	scanCT    = 64
	scanNAT   = 2 * scanCT
	scanProbe = 1000
)

// TestScanPressure: with flow maps far smaller than a port scan, an idle
// masqueraded connection and an idle connection to a published port
// outlive the scan, and an nmap -sS of the node's ports leaves no flow
// behind. The scan's SYNs to closed ports are the node's, which refuses
// them; its SYNs to a published port, from as many source ports, start
// flows that are never assured and close at once: they evict their own
// kind only.
func TestScanPressure(t *testing.T) {
	ns := NewNetns(t, setupNode)
	d := LoadEdited(t, func(specs map[string]*ebpf.MapSpec) {
		specs[loader.MapEnetCt].MaxEntries, specs[loader.MapEnetNat].MaxEntries = scanCT, scanNAT
		specs[loader.MapEnetCtNew].MaxEntries, specs[loader.MapEnetNatNew].MaxEntries = scanCT, scanNAT
	})
	n := (&nodeWorld{ns: ns, d: d}).node(t)
	n.publish()
	masq, dnat := newConn(), newConn()
	for _, s := range []tcpStep{o(tcpSYN), r(synAck), o(tcpACK), o(tcpACK).bytes(100), r(tcpACK)} {
		masqPath.send(n, masq.packet(s, masqPath.fwd, masqPath.back), s.reply)
		dnatPath.send(n, dnat.packet(s, dnatPath.fwd, dnatPath.back), s.reply)
	}
	idle := []flow{masqPath.flow.assure(), dnatPath.flow.assure()}
	n.checkFlows(idle...)

	scanner := in(remote, snatIP)
	for port := uint16(1); port <= scanProbe; port++ {
		n.fromUp(scanner.tcp(50000, port, tcpSYN), toStack)
		n.toUp(host(remote).tcp(port, 50000, rstAck), hostPass)
	}
	// m1 answers each, and the scanner refuses the answer, as nmap's
	// kernel does: every flow of the flood is used three times, more
	// recently than the idle ones.
	for sport := uint16(1); sport <= scanProbe; sport++ {
		n.fromUp(scanner.tcp(10000+sport, 8080, tcpSYN), dnatTo(m1))
		n.fromEp(m1, out(m1, remote).tcp(80, 10000+sport, synAck), replyOut)
		n.fromUp(scanner.tcp(10000+sport, 8080, tcpRST), dnatTo(m1))
	}

	cts, err := n.Maps.CT.All()
	must(t, err)
	assured, flood := 0, 0
	for _, f := range cts {
		switch {
		case f.Assured:
			assured++
		case f.Tuple.Dst.Port() == 8080:
			flood++
		default:
			t.Errorf("the scan left flow %v -> %v", f.Tuple.Src, f.Tuple.Dst)
		}
	}
	if flood == 0 || flood > scanCT {
		t.Errorf("%d flows of the SYN flood left, want some, at most %d", flood, scanCT)
	}
	if assured != len(idle) {
		t.Errorf("%d assured flows after the scan, want the %d idle ones", assured, len(idle))
	}
	for _, f := range idle {
		if got, ok, err := n.Maps.CT.Get(f.orig); err != nil || !ok || !got.Assured || got.State != est {
			t.Errorf("idle flow %v: found %t, assured %t, state %s; want it established and assured",
				f.orig, ok, got.Assured, maps.CTStateName(got.State))
		}
	}
	for _, s := range []tcpStep{r(tcpACK).bytes(10), o(tcpACK)} {
		masqPath.send(n, masq.packet(s, masqPath.fwd, masqPath.back), s.reply)
		dnatPath.send(n, dnat.packet(s, dnatPath.fwd, dnatPath.back), s.reply)
	}
}
