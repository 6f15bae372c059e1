package e2e

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestICMPErrorsOfMasqueradedFlows: ICMP errors about masqueraded flows
// reach the endpoint translated back, inner header included, so a closed
// port is refused, PMTU discovery works across a link with a smaller MTU,
// and ping hears that a network is unreachable. In the "port taken" cases
// the node's own flow holds the endpoint's source port, so the endpoint's
// flow leaves from another one and the inner port has to be put back too.
func TestICMPErrorsOfMasqueradedFlows(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	far := w.AddFar(1280)
	farSrv := startServer(t, far, netip.AddrPortFrom(world.FarIP, 7000))
	w.MustCLI("network", "create", "web", "--subnet", "10.26.0.0/24")
	// An endpoint learns the path MTU to far once: one for each case.
	a, b := w.Name("a"), w.Name("b")
	aIP, bIP := newEndpoint(t, w, a, "web"), newEndpoint(t, w, b, "web")
	closed := netip.AddrPortFrom(world.ExtIP, 7009)

	cases := []struct {
		name  string
		from  string
		ip    netip.Addr
		port  uint16
		taken bool
		proto string
		dst   netip.AddrPort
		check func(t *testing.T, from string, local, dst netip.AddrPort)
	}{
		{"port unreachable", a, aIP, 5401, false, "udp", closed, refused},
		{"port unreachable, port taken", b, bIP, 5402, true, "udp", closed, refused},
		{"fragmentation needed", a, aIP, 5403, false, "tcp", farSrv.Addr, pathMTU(w)},
		{"fragmentation needed, port taken", b, bIP, 5404, true, "tcp", farSrv.Addr, pathMTU(w)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.taken {
				c.check(t, w.Node, netip.AddrPortFrom(world.NodeIP, c.port), c.dst)
			}
			c.check(t, c.from, fromPort(c.port), c.dst)
			src := netip.AddrPortFrom(c.ip, c.port)
			if kept := natSource(t, w, c.proto, src, c.dst).Port() == c.port; kept == c.taken {
				t.Fatalf("flow from %s: port kept %v, want %v", src, kept, !c.taken)
			}
		})
	}

	t.Run("network unreachable", func(t *testing.T) {
		// ext forwards and has no route to TEST-NET-1.
		out, err := w.Exec(a, "ping", "-c", "1", "-W", "2", "192.0.2.1")
		if err == nil || !strings.Contains(out, "Destination Net Unreachable") {
			t.Fatalf("ping to an unreachable network: %v\n%s", err, out)
		}
	})
}

// refused checks that a datagram to the closed port dst is refused.
func refused(t *testing.T, ns string, local, dst netip.AddrPort) {
	t.Helper()
	c, err := dialUDP(ns, local, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 16)
	for range 3 {
		if _, err = c.Write([]byte("?")); err != nil {
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err = c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("udp from %s %s to the closed port %s: %v, want ECONNREFUSED", ns, local, dst, err)
	}
}

// pathMTU checks that 500 kB reach far over the link with MTU 1280, and
// that the sender learnt the path MTU.
func pathMTU(w *world.World) func(*testing.T, string, netip.AddrPort, netip.AddrPort) {
	return func(t *testing.T, ns string, local, dst netip.AddrPort) {
		t.Helper()
		c := mustDialTCP(t, ns, local, dst)
		if c.Seen.Addr() != world.NodeIP {
			t.Fatalf("far saw the connection from %s, want %s", c.Seen, world.NodeIP)
		}
		c.mustSend(t, 500_000)
		if route := w.MustExec(ns, "ip", "route", "get", dst.Addr().String()); !strings.Contains(route, "mtu 1280") {
			t.Fatalf("%s has not learnt the path MTU to far:\n%s", ns, route)
		}
	}
}
