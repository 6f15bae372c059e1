package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 19, point 5: a client that uses one source port for two host
// ports published to the same endpoint port reaches the endpoint through
// both; the second flow reaches it from another port, as netfilter's NAT
// has it. The same holds for TCP and UDP, and for endpoints (hairpin).
func TestPublishOneClientPortTwoHostPorts(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t, "peer")
	w.MustCLI("publish", srv, "8080:80", "8082:80", "5353:53/udp", "5354:53/udp")
	cases := []struct {
		name, from string
		local      netip.AddrPort
		seenFrom   netip.Addr
	}{
		{"from ext", w.Ext, netip.AddrPortFrom(world.ExtIP, 40000), world.ExtIP},
		{"hairpin", w.Name("peer"), netip.AddrPortFrom(netip.MustParseAddr("10.10.0.3"), 40000), netip.MustParseAddr("10.10.0.1")},
	}
	for _, c := range cases {
		t.Run(c.name+" tcp", func(t *testing.T) {
			var seen []netip.AddrPort
			for _, port := range []string{"8080", "8082"} {
				conn, reply, err := askTCPReusing(c.from, c.local, "198.51.100.1:"+port)
				if err != nil {
					t.Fatalf("port %s: %v", port, err)
				}
				defer conn.Close() // both stay open: two flows at once
				seen = append(seen, srvPeer(t, reply))
			}
			twoFlows(t, seen, c.local.Port(), c.seenFrom)
		})
		t.Run(c.name+" udp", func(t *testing.T) {
			replies, err := askUDPFromOnePort(c.from, c.local, "198.51.100.1:5353", "198.51.100.1:5354")
			if err != nil {
				t.Fatal(err)
			}
			var seen []netip.AddrPort
			for _, r := range replies {
				seen = append(seen, srvPeer(t, r))
			}
			twoFlows(t, seen, c.local.Port(), c.seenFrom)
		})
	}
}

// askTCPReusing connects from ns and local (SO_REUSEADDR, so one local
// port serves two connections at once), sends a line and returns the
// connection and the line the server answered.
func askTCPReusing(ns string, local netip.AddrPort, dst string) (net.Conn, string, error) {
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(local),
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			return errors.Join(err, serr)
		}}
	var conn net.Conn
	if err := world.InNetns(ns, func() (err error) { conn, err = d.Dial("tcp4", dst); return err }); err != nil {
		return nil, "", fmt.Errorf("connect from %s %s to %s: %w", ns, local, dst, err)
	}
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write([]byte("hi\n")); err != nil {
		conn.Close()
		return nil, "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, "", fmt.Errorf("read from %s: %w", dst, err)
	}
	return conn, strings.TrimSpace(line), nil
}

// askUDPFromOnePort sends a datagram to each dst from one socket and
// returns the answers in the order of dsts, each checked to come from
// its dst.
func askUDPFromOnePort(ns string, local netip.AddrPort, dsts ...string) ([]string, error) {
	var c *net.UDPConn
	if err := world.InNetns(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	got := map[string]string{}
	buf := make([]byte, 256)
	for range 3 {
		for _, d := range dsts {
			if _, ok := got[d]; !ok {
				_, _ = c.WriteTo([]byte("hi"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(d)))
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for len(got) < len(dsts) {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			got[from.AddrPort().String()] = string(buf[:n])
		}
		if len(got) == len(dsts) {
			break
		}
	}
	var out []string
	for _, d := range dsts {
		r, ok := got[d]
		if !ok {
			return nil, fmt.Errorf("no answer from %s to %s in %s; answers: %v", d, local, ns, got)
		}
		out = append(out, r)
	}
	return out, nil
}

// srvPeer is the client address in the echo probe's "srv PEER" answer.
func srvPeer(t *testing.T, reply string) netip.AddrPort {
	t.Helper()
	p, err := netip.ParseAddrPort(strings.TrimPrefix(reply, "srv "))
	if err != nil {
		t.Fatalf("answer %q: %v", reply, err)
	}
	return p
}

// twoFlows: the endpoint saw the first flow from the client's port and
// the second from another, both from the client's address.
func twoFlows(t *testing.T, seen []netip.AddrPort, port uint16, from netip.Addr) {
	t.Helper()
	if len(seen) != 2 || seen[0].Addr() != from || seen[1].Addr() != from || seen[0].Port() != port || seen[1].Port() == port {
		t.Fatalf("the endpoint saw the two flows from %v; want %s:%d, then %s with another port", seen, from, port, from)
	}
}
