package bpftest

import (
	"bytes"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The TCP states, as bpf/lib/maps.h names them after netfilter's.
const (
	synSent   = loader.EnetCtStateCT_SYN_SENT
	synRecv   = loader.EnetCtStateCT_SYN_RECV
	est       = loader.EnetCtStateCT_ESTABLISHED
	finWait   = loader.EnetCtStateCT_FIN_WAIT
	closeWait = loader.EnetCtStateCT_CLOSE_WAIT
	lastAck   = loader.EnetCtStateCT_LAST_ACK
	timeWait  = loader.EnetCtStateCT_TIME_WAIT
	closed    = loader.EnetCtStateCT_CLOSE

	rstIgnored = loader.EnetReasonREASON_TCP_RST_IGNORED
	tcpNoFlow  = loader.EnetReasonREASON_DROP_TCP_NO_FLOW

	synAck, finAck, rstAck = tcpSYN | tcpACK, tcpFIN | tcpACK, tcpRST | tcpACK
)

// What a step of a connection does to its flow.
type outcome int

const (
	kept    outcome = iota // the flow is in the state the step says, its expiry pushed out
	ignored                // the flow is as before, its expiry too
	ended                  // the flow is gone
)

// tcpStep is one segment of a connection, from the originator or the
// replier, and what its flow is after it.
type tcpStep struct {
	reply   bool
	flags   uint8
	data    int    // payload bytes
	off     uint32 // added to the sender's next sequence number: a segment out of place
	ackOff  uint32 // added to what it acknowledges
	noWS    bool   // a SYN or SYN-ACK without window scale option
	win     uint16 // the window it advertises, if not its side's usual
	later   time.Duration
	state   loader.EnetCtState
	timeout uint64
	assured bool
	outcome outcome
}

func o(flags uint8) tcpStep { return tcpStep{flags: flags} }
func r(flags uint8) tcpStep { return tcpStep{reply: true, flags: flags} }

func (s tcpStep) bytes(n int) tcpStep       { s.data = n; return s }
func (s tcpStep) at(off uint32) tcpStep     { s.off = off; return s }
func (s tcpStep) acking(off uint32) tcpStep { s.ackOff = off; return s }
func (s tcpStep) withoutWS() tcpStep        { s.noWS = true; return s }
func (s tcpStep) window(w uint16) tcpStep   { s.win = w; return s }

// after sends s d after the segment before it.
func (s tcpStep) after(d time.Duration) tcpStep { s.later = d; return s }

// is says the flow is in state, expiring timeout seconds on, in the maps
// of assured flows or not.
func (s tcpStep) is(state loader.EnetCtState, timeout uint64, assured bool) tcpStep {
	s.state, s.timeout, s.assured, s.outcome = state, timeout, assured, kept
	return s
}

func (s tcpStep) isIgnored() tcpStep { s.outcome = ignored; return s }
func (s tcpStep) isEnded() tcpStep   { s.outcome = ended; return s }

// conn plays a TCP connection's segments with sequence numbers as its two
// sides would send them: each side's next sequence number, its window
// (502 and 509, scaled by 7 once both offered it) and its SYN's.
type conn struct {
	next [2]uint32
	isn  [2]uint32
}

func newConn() *conn { return &conn{isn: [2]uint32{1000, 5000}} }

// seg is the sequence part of step s, and moves the sender along.
func (c *conn) seg(s tcpStep) *tcpSeg {
	me, peer := 0, 1
	if s.reply {
		me, peer = 1, 0
	}
	g := &tcpSeg{win: [2]uint16{502, 509}[me], wscale: -1}
	if s.flags&tcpSYN != 0 {
		g.win, g.wscale = [2]uint16{64240, 65160}[me], 7
		if s.noWS {
			g.wscale = -1
		}
		c.next[me] = c.isn[me]
		c.isn[me] += 1 << 20 // a connection opened again starts elsewhere
	}
	if s.win != 0 {
		g.win = s.win
	}
	g.seq = c.next[me] + s.off
	if s.flags&tcpACK != 0 {
		g.ack = c.next[peer] + s.ackOff
	}
	n := uint32(s.data)
	if s.flags&tcpSYN != 0 {
		n++
	}
	if s.flags&tcpFIN != 0 {
		n++
	}
	if s.off == 0 {
		c.next[me] += n
	}
	return g
}

// packet is step s as its sender sends it, on a connection from p's
// source to its destination; p's reply the other way.
func (c *conn) packet(s tcpStep, fwd, back pkt) pkt {
	p := fwd
	if s.reply {
		p = back
	}
	p = p.with(func(p *pkt) {
		p.tcpFlags, p.seg = s.flags, c.seg(s)
		p.payload = bytes.Repeat([]byte{'d'}, s.data)
	})
	return p
}

// TestTCPStates follows masqueraded TCP connections segment by segment:
// netfilter's states and their timeouts (from enet_config), a FIN per
// side so a half-closed connection lives on, a RST closing the flow only
// inside the window, a refused connection's flow ended by its RST, a SYN
// opening a closed connection's tuple again, connections picked up
// mid-stream; and a flow in enet_ct and enet_nat only while it is assured.
// Every segment is translated whatever it does to the flow.
func TestTCPStates(t *testing.T) {
	w := newNodeWorld(t)
	handshake := []tcpStep{
		o(tcpSYN).is(synSent, toSynSent, false),
		r(synAck).is(synRecv, toSynRecv, false),
		o(tcpACK).is(est, toEstablished, true),
	}
	then := func(steps ...tcpStep) []tcpStep { return append(append([]tcpStep{}, handshake...), steps...) }
	cases := []struct {
		name  string
		steps []tcpStep
	}{
		{"closed by the endpoint, the far end sending on", then(
			o(tcpACK).bytes(100).is(est, toEstablished, true),
			r(tcpACK).is(est, toEstablished, true),
			o(finAck).is(finWait, toFinWait, true),
			r(tcpACK).is(closeWait, toCloseWait, true),
			r(tcpACK).bytes(100).is(closeWait, toCloseWait, true),
			o(tcpACK).is(closeWait, toCloseWait, true),
			r(finAck).is(lastAck, toLastAck, false),
			o(tcpACK).is(timeWait, toTimeWait, false),
			o(tcpACK).is(timeWait, toTimeWait, false),
		)},
		{"closed by the far end, the endpoint sending on", then(
			r(finAck).is(finWait, toFinWait, true),
			o(tcpACK).is(closeWait, toCloseWait, true),
			o(tcpACK).bytes(1000).is(closeWait, toCloseWait, true),
			r(tcpACK).is(closeWait, toCloseWait, true),
			o(finAck).is(lastAck, toLastAck, false),
			r(tcpACK).is(timeWait, toTimeWait, false),
		)},
		{"half closed by the endpoint, the far end's data 15s on", then(
			o(finAck).is(finWait, toFinWait, true),
			r(tcpACK).is(closeWait, toCloseWait, true),
			r(tcpACK).bytes(100).after(15*time.Second).is(closeWait, toCloseWait, true),
		)},
		{"half closed by the far end, the endpoint's data 15s on", then(
			r(finAck).is(finWait, toFinWait, true),
			o(tcpACK).is(closeWait, toCloseWait, true),
			o(tcpACK).bytes(100).after(15*time.Second).is(closeWait, toCloseWait, true),
		)},
		{"closed by both at once", then(
			o(finAck).is(finWait, toFinWait, true),
			r(finAck).acking(^uint32(0)).is(lastAck, toLastAck, false),
			o(tcpACK).is(lastAck, toLastAck, false),
			r(tcpACK).is(timeWait, toTimeWait, false),
		)},
		{"FIN not acknowledged yet: still FIN_WAIT", then(
			o(finAck).is(finWait, toFinWait, true),
			r(tcpACK).acking(^uint32(0)).is(finWait, toFinWait, true),
		)},
		{"RST from the far end at its sequence number", then(
			r(rstAck).is(closed, toClose, false),
		)},
		{"RST from the far end inside the window", then(
			r(tcpRST).at(60000).is(closed, toClose, false),
		)},
		{"RST from the endpoint inside the window, below", then(
			o(tcpACK).bytes(1000).is(est, toEstablished, true),
			o(tcpRST).at(^uint32(899)).is(closed, toClose, false),
		)},
		{"RST beyond the window ignored", then(
			r(tcpRST).at(1<<20).isIgnored(),
			r(tcpACK).is(est, toEstablished, true),
		)},
		{"RST below the window ignored", then(
			o(rstAck).at(^uint32(1<<20 - 1)).isIgnored(),
		)},
		{"RST inside a scaled window", then(
			// 2000 << 7: 256,000 bytes.
			o(tcpACK).window(2000).is(est, toEstablished, true),
			r(tcpRST).at(200000).is(closed, toClose, false),
		)},
		{"RST beyond a window not scaled ignored", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			r(synAck).withoutWS().is(synRecv, toSynRecv, false),
			// 2000, unscaled: the SYN's 64,240 bytes are the largest.
			o(tcpACK).window(2000).is(est, toEstablished, true),
			r(tcpRST).at(200000).isIgnored(),
			r(tcpRST).at(60000).is(closed, toClose, false),
		}},
		{"refused: the RST answering the SYN ends the flow", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			r(rstAck).isEnded(),
		}},
		{"RST not acknowledging the SYN ignored", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			r(rstAck).acking(1).isIgnored(),
			r(tcpRST).isIgnored(),
		}},
		{"refused after the SYN-ACK: the endpoint's RST ends the flow", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			r(synAck).is(synRecv, toSynRecv, false),
			o(tcpRST).is(closed, toClose, false),
		}},
		{"SYN sent again", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			o(tcpSYN).is(synSent, toSynSent, false),
			r(synAck).is(synRecv, toSynRecv, false),
		}},
		{"ACK before the SYN-ACK ignored", []tcpStep{
			o(tcpSYN).is(synSent, toSynSent, false),
			o(tcpACK).isIgnored(),
		}},
		{"SYN in an established connection ignored", then(
			o(tcpSYN).isIgnored(),
			r(synAck).isIgnored(),
		)},
		{"opened again after TIME_WAIT", then(
			o(finAck).is(finWait, toFinWait, true),
			r(finAck).is(lastAck, toLastAck, false),
			o(tcpACK).is(timeWait, toTimeWait, false),
			o(tcpSYN).is(synSent, toSynSent, false),
			r(synAck).is(synRecv, toSynRecv, false),
			o(tcpACK).is(est, toEstablished, true),
		)},
		{"opened again after a reset, and refused", then(
			r(rstAck).is(closed, toClose, false),
			o(tcpSYN).is(synSent, toSynSent, false),
			r(rstAck).isEnded(),
		)},
		{"picked up mid-stream, answered", []tcpStep{
			o(tcpACK).bytes(100).is(est, toUnack, false),
			o(tcpACK).is(est, toUnack, false),
			r(tcpACK).is(est, toEstablished, true),
			r(tcpRST).at(1 << 30).isIgnored(),
		}},
		{"picked up mid-stream, reset", []tcpStep{
			o(tcpACK).is(est, toUnack, false),
			r(tcpRST).at(12345).isEnded(),
		}},
		{"picked up mid-stream, closing", []tcpStep{
			o(tcpACK).is(est, toUnack, false),
			o(finAck).is(finWait, toFinWait, false),
			r(finAck).is(lastAck, toLastAck, false),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { masqPath.play(w.node(t), tc.steps) })
	}
}

// tcpPath is how a connection's segments cross the node.
type tcpPath struct {
	fwd, back pkt    // the originator's packets and the replier's
	ifindex   [2]int // where each side's packets come in
	flow      flow   // the connection's flow
	// send runs the program p meets and checks that it comes out as it
	// should.
	send func(n *node, p pkt, reply bool)
}

var (
	// m1 connects to remote:80 through masquerade.
	masqPath = tcpPath{
		fwd: out(m1, remote).tcp(40000, 80, 0), back: in(remote, snatIP).tcp(80, 40000, 0),
		ifindex: [2]int{m1.Ifindex, uplinkIdx},
		flow:    masqFlow(m1, out(m1, remote).tcp(40000, 80, 0), 40000),
		send: func(n *node, p pkt, reply bool) {
			if reply {
				checkOut(n.t, n.fromUp(p, replyTo(m1)), p.delivered(m1, 40000))
			} else {
				checkOut(n.t, n.fromEp(m1, p, snatOut), p.masqueraded(40000))
			}
		},
	}
	// remote connects to port 8080, published to m1's port 80.
	dnatPath = tcpPath{
		fwd: in(remote, snatIP).tcp(40000, 8080, 0), back: out(m1, remote).tcp(80, 40000, 0),
		ifindex: [2]int{uplinkIdx, m1.Ifindex},
		flow:    dnatFlow(m1, in(remote, snatIP).tcp(40000, 8080, 0), 80),
		send: func(n *node, p pkt, reply bool) {
			if reply {
				checkOut(n.t, n.fromEp(m1, p, replyOut), p.masqueraded(8080))
			} else {
				checkOut(n.t, n.fromUp(p, dnatTo(m1)), p.delivered(m1, 80))
			}
		},
	}
)

// play sends the steps of a connection and checks its flow after each.
func (path tcpPath) play(n *node, steps []tcpStep) {
	n.t.Helper()
	n.publish()
	c := newConn()
	var prev maps.Flow
	for i, s := range steps {
		p := c.packet(s, path.fwd, path.back)
		if s.later != 0 {
			n.age(path.fwd.tuple(), s.later)
			prev.ExpiresNs -= uint64(s.later)
		}
		rsts := n.counter(path.ifindex[b2i(s.reply)], rstIgnored)
		before := monoNow(n.t)
		path.send(n, p, s.reply)
		after := monoNow(n.t)
		prev = n.checkStep(path, i, s, prev, before, after, rsts)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkStep checks the flow of path after step i, as s says, prev being
// the flow before it. It returns the flow now.
func (n *node) checkStep(path tcpPath, i int, s tcpStep, prev maps.Flow, before, after uint64, rsts maps.Counter) maps.Flow {
	t := n.t
	t.Helper()
	f, ok, err := n.Maps.CT.Get(path.fwd.tuple())
	must(t, err)
	ifindex := path.ifindex[b2i(s.reply)]
	wantRsts := rsts.Packets
	switch s.outcome {
	case ended:
		if ok {
			t.Errorf("after segment %d: flow in state %s, want none", i, maps.CTStateName(f.State))
		}
		n.checkFlows()
		return f
	case ignored:
		if !ok || f.State != prev.State || f.ExpiresNs != prev.ExpiresNs || f.Assured != prev.Assured {
			t.Errorf("after segment %d: flow %t in state %s, expiring at %d, assured %t; want it as before: %s, %d, %t",
				i, ok, maps.CTStateName(f.State), f.ExpiresNs, f.Assured, maps.CTStateName(prev.State), prev.ExpiresNs, prev.Assured)
		}
		if s.flags&tcpRST != 0 {
			wantRsts++
		}
	case kept:
		if !ok || f.State != s.state || f.Assured != s.assured {
			t.Errorf("after segment %d: flow %t in state %s, assured %t; want %s, assured %t",
				i, ok, maps.CTStateName(f.State), f.Assured, maps.CTStateName(s.state), s.assured)
		}
		checkExpiry(t, f, before, after, s.timeout)
	}
	n.checkFlows(path.flow.assuredIf(f.Assured))
	if got := n.counter(ifindex, rstIgnored); got.Packets != wantRsts {
		t.Errorf("after segment %d: tcp-rst-ignored counts %d on %d, want %d", i, got.Packets, ifindex, wantRsts)
	}
	return f
}

// assuredIf is f, assured if a.
func (f flow) assuredIf(a bool) flow {
	f.assured = a
	return f
}

// age makes a flow older by d, as if d had passed since its packets: its
// creation, its expiry and its translations' creation move back.
func (n *node) age(orig maps.Tuple, d time.Duration) {
	n.t.Helper()
	f := n.flow(orig)
	_, _, err := n.Maps.CT.Take(orig)
	must(n.t, err)
	f.CreatedNs -= uint64(d)
	f.ExpiresNs -= uint64(d)
	must(n.t, n.Maps.CT.Restore(f))
	for _, k := range []maps.Tuple{f.Reply, orig} {
		tr, ok, err := n.Maps.NAT.Take(k)
		must(n.t, err)
		if ok {
			tr.CreatedNs -= uint64(d)
			must(n.t, n.Maps.NAT.Restore(tr))
		}
	}
}
