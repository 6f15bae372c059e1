package e2e

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 19, items 2, 3, 4 and 14: TCP's states and how long the node
// keeps its entries.

// twinLateServer waits for the client's FIN, then answers after 13 s, past
// ebpfnet's 10 s closing timeout.
func twinLateServer(c *net.TCPConn) {
	_, _ = io.Copy(io.Discard, c)
	time.Sleep(13 * time.Second)
	fmt.Fprintln(c, "late")
}

// halfClosed: a client sends its FIN and waits for the server's last
// answer, through masquerade and through a published port, at once.
func halfClosed(t *testing.T, s side) string {
	w := s.World()
	a := s.Endpoint(t, "halfclose", 44)
	ext := netip.AddrPortFrom(world.ExtIP, 7044)
	tcpServer(t, w.Ext, ext, twinLateServer)
	tcpServer(t, a, fromPort(80), twinLateServer)
	if err := s.Publish(a, "8044:80"); err != nil {
		t.Fatal(err)
	}
	late := func(ns string, dst netip.AddrPort) string {
		c, err := dialFrom(ns, netip.AddrPort{}, dst, 3*time.Second)
		if err != nil {
			return "connect " + errKind(err)
		}
		defer c.Close()
		_ = c.CloseWrite()
		if line, err := readLine(c, 20*time.Second); line != "late" {
			return errKind(err)
		}
		return "arrived"
	}
	in := make(chan string, 1)
	go func() { in <- late(w.Ext, netip.AddrPortFrom(world.NodeIP, 8044)) }()
	out := late(a, ext)
	return fmt.Sprintf("masqueraded: %s; published: %s", out, <-in)
}

// blindReset: ext injects a RST far outside the window into an idle
// masqueraded connection; 13 s later the server speaks.
func blindReset(t *testing.T, s side) string {
	w := s.World()
	a := s.Endpoint(t, "blindrst", 45)
	srv := netip.AddrPortFrom(world.ExtIP, 7045)
	speak := make(chan struct{})
	tcpServer(t, w.Ext, srv, func(c *net.TCPConn) {
		fmt.Fprintln(c, "hi")
		select {
		case <-speak:
			fmt.Fprintln(c, "still here")
		case <-time.After(25 * time.Second):
		}
	})
	sniff := watchIP(t, w.Ext, syscall.IPPROTO_TCP, false)
	c, err := dialFrom(a, netip.AddrPort{}, srv, 3*time.Second)
	if err != nil {
		return "connect " + errKind(err)
	}
	defer c.Close()
	if _, err := readLine(c, 3*time.Second); err != nil {
		return "no greeting: " + errKind(err)
	}
	fmt.Fprintln(c, "ack") // carries the server's next sequence number as its ack
	var masq netip.AddrPort
	var next uint32
	for _, p := range sniff.with([]byte("ack\n")) {
		if sport, dport, _, ack, ok := tcpHeader(p.Payload); ok && dport == srv.Port() {
			masq, next = netip.AddrPortFrom(p.Src, sport), ack
		}
	}
	if !masq.IsValid() {
		return "the client's segment never reached ext"
	}
	rst := tcpSegment(srv, masq, next+1<<30, 0, func(h *layers.TCP) { h.RST = true })
	sendRaw(t, w.Ext, syscall.IPPROTO_TCP, masq.Addr(), rst)
	time.Sleep(13 * time.Second)
	close(speak)
	line, err := readLine(c, 3*time.Second)
	if line == "still here" {
		return "the server's data 13s later arrived"
	}
	return "the server's data 13s later: " + errKind(err)
}

// synScan: nmap -sS of 200 closed ports of the node, from ext, and what
// the node's table keeps of it.
func synScan(t *testing.T, s side) string {
	w := s.World()
	if out, err := w.Exec(w.Ext, "nmap", "-n", "-Pn", "-sS", "-T5", "--max-retries", "0",
		"-p", "21000-21199", world.NodeIP.String()); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return entriesOf(s.Flows(t), "tcp", 21000, 21200)
}

// entriesOf says how many entries of proto for node ports lo to hi,
// either way, the table keeps over two minutes: a scan must not fill it
// with long-lived entries (short ones, as netfilter's UNREPLIED, are fine).
func entriesOf(flows []flow, proto string, lo, hi uint16) string {
	ours := func(p netip.AddrPort) bool { return p.Addr() == world.NodeIP && p.Port() >= lo && p.Port() < hi }
	long, longest := 0, 0.0
	for _, f := range flows {
		if f.Proto == proto && (ours(f.Src) || ours(f.Dst)) {
			longest = max(longest, f.TTL)
			if f.TTL > 125 {
				long++
			}
		}
	}
	if long == 0 {
		return "no entry outlives 2m"
	}
	return fmt.Sprintf("%d entries outlive 2m, the longest %s", long, lifetime(longest))
}

// refusedThenPublished: a client refused by the node connects again from
// the same source port once the port is published.
func refusedThenPublished(t *testing.T, s side) string {
	w := s.World()
	ep := s.Endpoint(t, "refusedpub", 46)
	startServer(t, ep, fromPort(80))
	local, dst := netip.AddrPortFrom(world.ExtIP, 33046), netip.AddrPortFrom(world.NodeIP, 8046)
	_, before := dialTCP(w.Ext, local, dst, 3*time.Second)
	if err := s.Publish(ep, "8046:80"); err != nil {
		t.Fatal(err)
	}
	after := "answered"
	if c, err := dialTCP(w.Ext, local, dst, 3*time.Second); err != nil {
		after = errKind(err)
	} else {
		c.conn.Close()
	}
	return fmt.Sprintf("before publish %s; after, from the same port: %s", errKind(before), after)
}

// tcpLifetimes: how long the node keeps a masqueraded connection's entry
// when idle, after the endpoint's FIN, and after both FINs.
func tcpLifetimes(t *testing.T, s side) string {
	w := s.World()
	a := s.Endpoint(t, "lifetimes", 58)
	dst := netip.AddrPortFrom(world.ExtIP, 7058)
	finish := make(chan struct{})
	tcpServer(t, w.Ext, dst, func(c *net.TCPConn) {
		select {
		case <-finish:
		case <-time.After(20 * time.Second):
		}
	})
	c, err := dialFrom(a, netip.AddrPortFrom(twinAddr(58), 20058), dst, 3*time.Second)
	if err != nil {
		return "connect " + errKind(err)
	}
	defer c.Close()
	entry := func() string {
		time.Sleep(200 * time.Millisecond)
		for _, f := range s.Flows(t) {
			if f.Proto == "tcp" && f.Src == netip.AddrPortFrom(twinAddr(58), 20058) {
				return lifetime(f.TTL)
			}
		}
		return "none"
	}
	established := entry()
	_ = c.CloseWrite()
	oneFIN := entry()
	close(finish)
	_, _ = readLine(c, 2*time.Second) // the server's FIN
	bothFINs := entry()
	return fmt.Sprintf("established %s; after the endpoint's FIN %s; after both FINs %s", established, oneFIN, bothFINs)
}
