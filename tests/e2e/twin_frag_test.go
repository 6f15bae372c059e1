package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 19, item 1: IP fragments through masquerade and to published
// ports.

// fragmentsOut: `iperf3 -u -l 8000` in miniature, through masquerade.
func fragmentsOut(t *testing.T, s side) string {
	a := s.Endpoint(t, "fragout", 40)
	dst := netip.AddrPortFrom(world.ExtIP, 7040)
	sink := startUDPSink(t, s.World().Ext, dst, 0)
	c := udpFrom(t, a, fromPort(0))
	paced(20, func() { _, _ = c.WriteToUDPAddrPort(make([]byte, 8000), dst) })
	return count(sink.got(8000, 20), 20) + " arrived at ext"
}

// fragmentedReply: a large DNS answer, in miniature.
func fragmentedReply(t *testing.T, s side) string {
	a := s.Endpoint(t, "fragreply", 41)
	dst := netip.AddrPortFrom(world.ExtIP, 7041)
	startUDPSink(t, s.World().Ext, dst, 4000)
	return count(replies(udpFrom(t, a, fromPort(0)), dst, []byte("q"), 3, 4000), 3) + " replies arrived"
}

// fragmentsIn: the same from ext to a published UDP port, and what the
// node's socket holding the port has queued.
func fragmentsIn(t *testing.T, s side) string {
	w := s.World()
	b := s.Endpoint(t, "fragin", 42)
	sink := startUDPSink(t, b, fromPort(53), 0)
	if err := s.Publish(b, "8042:53/udp"); err != nil {
		t.Fatal(err)
	}
	c := udpFrom(t, w.Ext, fromPort(0))
	paced(20, func() { _, _ = c.WriteToUDPAddrPort(make([]byte, 8000), netip.AddrPortFrom(world.NodeIP, 8042)) })
	arrived := count(sink.got(8000, 20), 20)
	queued := "nothing"
	if out, _ := w.Exec(w.Node, "ss", "-Hunl", "sport = :8042"); len(strings.Fields(out)) > 1 && strings.Fields(out)[1] != "0" {
		queued = "datagrams"
	}
	return fmt.Sprintf("%s arrived at the endpoint; the node's socket on the port queued %s", arrived, queued)
}

// fragmentsCrafted: fragments as ext sends them on purpose, to a
// published port: the last first, or with an overlap (which the Linux
// reassembly refuses); and a reply to an endpoint, last first.
func fragmentsCrafted(t *testing.T, s side) string {
	w := s.World()
	b := s.Endpoint(t, "fragcraft", 43)
	sink := startUDPSink(t, b, fromPort(53), 0)
	if err := s.Publish(b, "8043:53/udp"); err != nil {
		t.Fatal(err)
	}
	from, pub := netip.AddrPortFrom(world.ExtIP, 33043), netip.AddrPortFrom(world.NodeIP, 8043)
	reversed := fragments(from, pub, bytes.Repeat([]byte("r"), 3000), 1480, 4301)
	slices.Reverse(reversed)
	sendRaw(t, w.Ext, syscall.IPPROTO_RAW, pub.Addr(), reversed...)
	lastFirst := sink.got(3000, 1)
	overlap := fragments(from, pub, bytes.Repeat([]byte("o"), 2000), 1480, 4302)
	extra := fragments(from, pub, bytes.Repeat([]byte("x"), 3000), 16, 4302)[92] // bytes 1472-1487
	sendRaw(t, w.Ext, syscall.IPPROTO_RAW, pub.Addr(), overlap[0], extra, overlap[1])
	overlapping := sink.got(2000, 1)

	// The endpoint asks ext; ext answers 3000 bytes, last fragment first.
	c := udpFrom(t, b, fromPort(20043))
	srv := netip.AddrPortFrom(world.ExtIP, 7043)
	startServer(t, w.Ext, srv)
	seen, err := askFrom(c, srv)
	if err != nil {
		return "the endpoint's query got no answer: " + errKind(err)
	}
	reply := fragments(srv, seen, bytes.Repeat([]byte("a"), 3000), 1480, 4303)
	slices.Reverse(reply)
	sendRaw(t, w.Ext, syscall.IPPROTO_RAW, seen.Addr(), reply...)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, _, _ := c.ReadFromUDPAddrPort(make([]byte, 4000))
	return fmt.Sprintf("published, last first %s; published, overlapping %s; reply, last first %s",
		count(lastFirst, 1), count(overlapping, 1), count(min(n/3000, 1), 1))
}

// askFrom asks startServer's UDP server over c, unconnected, and returns
// the address it saw.
func askFrom(c *net.UDPConn, srv netip.AddrPort) (netip.AddrPort, error) {
	buf := make([]byte, 128)
	if _, err := c.WriteToUDPAddrPort([]byte("?"), srv); err != nil {
		return netip.AddrPort{}, err
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.ParseAddrPort(strings.TrimSpace(string(buf[:n])))
}
