package e2e

import (
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

// What issue 19 found different, one probe per item (endpoints from
// 10.10.0.40 up), scaled down: a scan of 200 ports, 128 ports to exhaust.
var issue19Probes = []twinProbe{
	{name: "8000-byte datagrams from an endpoint", issue: "19.1", run: fragmentsOut},
	{name: "a 4000-byte reply to an endpoint", issue: "19.1", run: fragmentedReply},
	{name: "8000-byte datagrams to a published port", issue: "19.1", run: fragmentsIn},
	{name: "crafted fragments: last first, overlapping", issue: "19.1", run: fragmentsCrafted},
	{name: "late data after one FIN", issue: "19.2", slow: true, run: halfClosed},
	{name: "an out-of-window RST", issue: "19.3", slow: true, run: blindReset},
	{name: "SYN scan of closed node ports", issue: "19.4", run: synScan},
	{name: "refused, then published, same source port", issue: "19.4", run: refusedThenPublished},
	{name: "one source port to two host ports of one endpoint port", issue: "19.5", run: twoHostPorts},
	{name: "traceroute TCP from far to a published port", issue: "19.6", run: traceToPublished},
	{name: "connect to a dead host on the uplink's network", issue: "19.7", slow: true, run: deadHost},
	{name: "ip rule from an endpoint to a prohibit table", issue: "19.8", run: policyRouting},
	{name: "GRE, protocol 253, ICMP timestamp from an endpoint", issue: "19.9", run: otherProtocols},
	{name: "non-IP frames between endpoints", issue: "19.10", run: nonIPFrames},
	{name: "0.0.0.0 publication on other node addresses", issue: "19.11", run: everyAddress},
	{name: "masquerade near port exhaustion", issue: "19.12", run: portExhaustion},
	{name: "publish an SCTP port", issue: "19.13", run: publishSCTP},
	{name: "TCP entry lifetimes", issue: "19.14", run: tcpLifetimes},
}

// twoHostPorts: one client socket reaches host ports 8047 and 8048, both
// published to port 80 of one endpoint, over TCP (two sockets sharing
// the port) and UDP (one socket).
func twoHostPorts(t *testing.T, s side) string {
	w := s.World()
	ep := s.Endpoint(t, "twoports", 47)
	startServer(t, ep, fromPort(80))
	if err := s.Publish(ep, "8047:80", "8048:80", "8047:80/udp", "8048:80/udp"); err != nil {
		t.Fatal(err)
	}
	var tcp []string
	for _, port := range []uint16{8047, 8048} {
		c, err := dialFrom(w.Ext, netip.AddrPortFrom(world.ExtIP, 33047), netip.AddrPortFrom(world.NodeIP, port), 3*time.Second)
		if err == nil {
			defer c.Close()
			_, err = readLine(c, 3*time.Second)
		}
		tcp = append(tcp, fmt.Sprintf("%d %s", port, errKind(err)))
	}
	c := udpFrom(t, w.Ext, netip.AddrPortFrom(world.ExtIP, 33048))
	udp8047 := replies(c, netip.AddrPortFrom(world.NodeIP, 8047), []byte("?"), 2, 0)
	udp8048 := replies(c, netip.AddrPortFrom(world.NodeIP, 8048), []byte("?"), 2, 0)
	return fmt.Sprintf("tcp %s; udp 8047 %s, 8048 %s answered", strings.Join(tcp, ", "), count(udp8047, 2), count(udp8048, 2))
}

// traceToPublished: the hop at the node shows on the way to a port it
// publishes.
func traceToPublished(t *testing.T, s side) string {
	ep := s.Endpoint(t, "tracepub", 48)
	startServer(t, ep, fromPort(80))
	if err := s.Publish(ep, "8049:80"); err != nil {
		t.Fatal(err)
	}
	out, _ := s.World().Exec(s.Far(), "traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", "-T", "-p", "8049", world.NodeIP.String())
	return "hops " + hops(out)
}

// deadHost: an endpoint connects to an address of the uplink's network
// that nobody has.
func deadHost(t *testing.T, s side) string {
	a := s.Endpoint(t, "deadhost", 49)
	start := time.Now()
	_, err := dialFrom(a, netip.AddrPort{}, netip.MustParseAddrPort("198.51.100.77:80"), 8*time.Second)
	return errKind(err) + " " + within(time.Since(start))
}

// policyRouting: the node's rule sends the endpoint's traffic to a table
// whose default route is prohibit.
func policyRouting(t *testing.T, s side) string {
	w := s.World()
	a := s.Endpoint(t, "iprule", 50)
	for _, c := range [][]string{
		{"ip", "route", "add", "prohibit", "default", "table", "100"},
		{"ip", "rule", "add", "from", twinAddr(50).String(), "lookup", "100", "pref", "100"},
	} {
		if out, err := w.Exec(w.Node, c...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	t.Cleanup(func() {
		_, _ = w.Exec(w.Node, "ip", "rule", "del", "pref", "100")
		_, _ = w.Exec(w.Node, "ip", "route", "flush", "table", "100")
	})
	out, _ := w.Exec(a, "ping", "-n", "-c", "1", "-W", "2", world.ExtIP.String())
	return "ping ext: " + pingSaw(out)
}

// otherProtocols: GRE and IP protocol 253 from an endpoint to ext, which
// sends each back; and an ICMP timestamp request.
func otherProtocols(t *testing.T, s side) string {
	w := s.World()
	a := s.Endpoint(t, "protos", 51)
	var got []string
	for _, p := range []struct {
		name  string
		proto int
		body  []byte
	}{
		{"GRE", syscall.IPPROTO_GRE, append([]byte{0, 0, 8, 0}, "twin-gre"...)},
		{"protocol 253", 253, []byte("twin-253")},
	} {
		ext, back := watchIP(t, w.Ext, p.proto, true), watchIP(t, a, p.proto, false)
		sendRaw(t, a, p.proto, world.ExtIP, p.body)
		from := "nothing reached ext"
		if pkts := ext.with(p.body); len(pkts) > 0 {
			from = "ext saw it from " + pkts[0].Src.String()
		}
		got = append(got, fmt.Sprintf("%s: %s, %d came back", p.name, from, len(back.with(p.body))))
	}
	return strings.Join(append(got, "ICMP timestamp: "+timestamp(t, a)), "; ")
}

// timestamp sends an ICMP timestamp request to ext and says whether the
// reply came.
func timestamp(t *testing.T, ns string) string {
	c := rawConn(t, ns, syscall.IPPROTO_ICMP)
	req := []byte{13, 0, 0, 0, 0x51, 0x51, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	sum := ^checksum(req)
	req[2], req[3] = byte(sum>>8), byte(sum)
	if _, err := c.WriteToIP(req, &net.IPAddr{IP: world.ExtIP.AsSlice()}); err != nil {
		return "send " + errKind(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFromIP(buf)
		if err != nil {
			return "no reply"
		}
		if n >= 20 && buf[0] == 14 {
			return "replied"
		}
	}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// nonIPFrames: an endpoint sends frames of EtherType 0x88b5, untagged and
// VLAN-tagged, to another on its network.
func nonIPFrames(t *testing.T, s side) string {
	w := s.World()
	a, b := s.Endpoint(t, "l2a", 52), s.Endpoint(t, "l2b", 53)
	aMAC, _ := net.ParseMAC(links(t, w, a)["eth0"].Addr)
	bMAC, _ := net.ParseMAC(links(t, w, b)["eth0"].Addr)
	var got []string
	for _, c := range []struct {
		name string
		vlan uint16
	}{{"0x88b5", 0}, {"0x88b5 in VLAN 10", 10}} {
		marker := []byte(fmt.Sprintf("twin-frame-vlan-%d-padding-to-the-minimum-frame", c.vlan))
		n := framesWith(t, b, "eth0", marker, func() {
			twinSendFrames(t, a, "eth0", slices.Repeat([][]byte{ethFrame(bMAC, aMAC, 0x88b5, c.vlan, marker)}, 3)...)
		})
		got = append(got, c.name+" "+count(n, 3))
	}
	return strings.Join(got, ", ") + " delivered"
}

// everyAddress: a port published on every address, reached on a second
// address of the uplink from ext, and on the gateway from the node.
func everyAddress(t *testing.T, s side) string {
	w := s.World()
	ep := s.Endpoint(t, "everyaddr", 54)
	startServer(t, ep, fromPort(80))
	if err := s.Publish(ep, "8054:80"); err != nil {
		t.Fatal(err)
	}
	if out, err := w.Exec(w.Node, "ip", "addr", "add", "198.51.100.54/24", "dev", world.UplinkDev); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = w.Exec(w.Node, "ip", "addr", "del", "198.51.100.54/24", "dev", world.UplinkDev) })
	s.NodeAddrKnown(t, netip.MustParseAddr("198.51.100.54"))
	second := "answered"
	if c, err := dialTCP(w.Ext, netip.AddrPort{}, netip.MustParseAddrPort("198.51.100.54:8054"), 3*time.Second); err != nil {
		second = errKind(err)
	} else {
		c.conn.Close()
	}
	gateway := "answered"
	if _, err := dial(w, w.Node, true, "tcp", twinGateway.String()+":8054"); err != nil {
		gateway = errKind(err)
	}
	return fmt.Sprintf("ext to a second address: %s; the node to the gateway: %s", second, gateway)
}

// portExhaustion: with 128 ports to masquerade to, one endpoint sends
// from 64 source ports, all kept; a second from the same 64, all of
// which must move to the 64 left.
func portExhaustion(t *testing.T, s side) string {
	w := s.World()
	first, second := s.Endpoint(t, "exhaust1", 55), s.Endpoint(t, "exhaust2", 56)
	dst := netip.AddrPortFrom(world.ExtIP, 7055)
	startServer(t, w.Ext, dst)
	s.LimitSNATPorts(t, dst, 40000, 40127)
	send := func(ns string) (answered, kept int) {
		for p := uint16(40000); p < 40064; p++ {
			seen, err := askFrom(udpFrom(t, ns, fromPort(p)), dst)
			if err == nil {
				answered++
				if seen.Port() == p {
					kept++
				}
			}
		}
		return answered, kept
	}
	a1, k1 := send(first)
	a2, _ := send(second)
	return fmt.Sprintf("first endpoint %s answered, %d kept their port; second %s answered", count(a1, 64), k1, count(a2, 64))
}

// publishSCTP: `-p 9057:9057/sctp`, on a kernel without SCTP.
func publishSCTP(t *testing.T, s side) string {
	ep := s.Endpoint(t, "sctp", 57)
	err := s.Publish(ep, "9057:9057/sctp")
	msg := strings.ToLower(fmt.Sprint(err))
	switch {
	case err == nil:
		return "published"
	case strings.Contains(msg, "not supported"), strings.Contains(msg, "sctp") && strings.Contains(msg, "kernel"):
		return "refused: this kernel has no SCTP"
	case strings.Contains(msg, "unknown protocol"):
		return "refused: unknown protocol"
	}
	return "refused: " + msg
}
