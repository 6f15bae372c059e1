package e2e

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// What the probes see, in words that compare across worlds: kinds of
// errors rather than messages with addresses in them, coarse buckets
// rather than timings.

// errKind names an error as a user reads it: its errno, timeout or EOF.
// An error a probe process printed is matched by its text.
func errKind(err error) string {
	var ne net.Error
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
		syscall.ECONNRESET, syscall.EPIPE, syscall.EADDRNOTAVAIL, syscall.EADDRINUSE, syscall.EMSGSIZE} {
		if errors.Is(err, e) || err != nil && strings.Contains(err.Error(), e.Error()) {
			return e.Error()
		}
	}
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded),
		strings.Contains(err.Error(), "timeout"), strings.Contains(err.Error(), "no reply"):
		return "timeout"
	case errors.Is(err, io.EOF):
		return "EOF"
	}
	return "error"
}

// within is how long something took, in buckets wide enough for a
// loaded machine.
func within(d time.Duration) string {
	switch {
	case d < time.Second:
		return "at once"
	case d < 6*time.Second:
		return "in seconds"
	}
	return "after " + d.Round(time.Second).String()
}

// lifetime is a conntrack entry's time left, to the unit that tells
// timeouts apart: seconds up to two minutes, then minutes, hours, days.
func lifetime(s float64) string {
	switch {
	case s <= 0:
		return "expired"
	case s <= 15:
		return "≤15s"
	case s <= 65:
		return "≤1m"
	case s <= 125:
		return "≤2m"
	case s < 2*3600:
		return fmt.Sprintf("%.0fm", math.Round(s/60))
	case s < 2*86400:
		return fmt.Sprintf("%.0fh", math.Round(s/3600))
	}
	return fmt.Sprintf("%.0fd", math.Round(s/86400))
}

var (
	pingCount = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingError = regexp.MustCompile(`Packet filtered|Destination \w+ Unreachable|Time to live exceeded`)
	twinHopRE = regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)`)
)

// pingSaw is what ping printed: replies of requests, and the first ICMP
// error it reported.
func pingSaw(out string) string {
	m := pingCount.FindStringSubmatch(out)
	if m == nil {
		return "ping failed"
	}
	s := m[2] + "/" + m[1] + " replies"
	if e := pingError.FindString(out); e != "" {
		s += ", " + e
	}
	return s
}

// hops is the path traceroute printed: each hop's address, or *.
func hops(out string) string {
	var hs []string
	for _, m := range twinHopRE.FindAllStringSubmatch(out, -1) {
		hs = append(hs, m[1])
	}
	return strings.Join(hs, " ")
}

// paced runs send n times, 10 ms apart: bursts of large datagrams
// would overflow receive buffers and measure those instead.
func paced(n int, send func()) {
	for range n {
		send()
		time.Sleep(10 * time.Millisecond)
	}
}

// count is "n/of", the probes' way of saying how much got through.
func count(n, of int) string { return fmt.Sprintf("%d/%d", n, of) }

// udpSink is a UDP server in a netns that counts the datagrams it gets
// by size, and answers each with reply bytes if reply is set.
type udpSink struct {
	conn  net.PacketConn
	mu    sync.Mutex
	sizes map[int]int
}

func startUDPSink(t *testing.T, ns string, addr netip.AddrPort, reply int) *udpSink {
	t.Helper()
	s := &udpSink{sizes: map[int]int{}}
	err := world.InNetns(ns, func() (err error) {
		s.conn, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("udp server on %s in %s: %v", addr, ns, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := s.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sizes[n]++
			s.mu.Unlock()
			if reply > 0 {
				_, _ = s.conn.WriteTo(make([]byte, reply), from)
			}
		}
	}()
	t.Cleanup(func() { s.conn.Close(); <-done })
	return s
}

// got is how many datagrams of size n have arrived, once they stop
// coming in or want have.
func (s *udpSink) got(n, want int) int {
	var last = -1
	for range 20 {
		s.mu.Lock()
		c := s.sizes[n]
		s.mu.Unlock()
		if c >= want || c == last {
			return c
		}
		last = c
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// udpFrom is a UDP socket in a netns bound to local, for a probe to send
// from and read replies on.
func udpFrom(t *testing.T, ns string, local netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := world.InNetns(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(local))
		return err
	})
	if err != nil {
		t.Fatalf("udp socket on %s in %s: %v", local, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// replies sends msg to dst n times on c and counts the replies of size
// size (0: any) that come back within a second each.
func replies(c *net.UDPConn, dst netip.AddrPort, msg []byte, n, size int) int {
	got := 0
	buf := make([]byte, 65536)
	for range n {
		if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if m, _, err := c.ReadFromUDPAddrPort(buf); err == nil && (size == 0 || m == size) {
			got++
		}
	}
	return got
}

// dialFrom connects over TCP from a netns, from local if it is valid,
// with SO_REUSEADDR so a second connection may share the local port.
func dialFrom(ns string, local, dst netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
	}}
	if local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(local)
	}
	var c net.Conn
	err := world.InNetns(ns, func() (err error) {
		c, err = d.Dial("tcp4", dst.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// readLine reads one line within timeout.
func readLine(c net.Conn, timeout time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := c.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// tcpServer accepts connections in a netns and hands each to serve, until
// the test ends and closes them.
func tcpServer(t *testing.T, ns string, addr netip.AddrPort, serve func(c *net.TCPConn)) {
	t.Helper()
	var ln net.Listener
	err := world.InNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp4", addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("tcp server on %s in %s: %v", addr, ns, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				serve(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
