package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// listenTCPUDP listens on TCP and UDP at one address of a netns.
func listenTCPUDP(ns string, addr netip.AddrPort) (net.Listener, net.PacketConn, error) {
	var ln net.Listener
	var pc net.PacketConn
	err := world.InNetns(ns, func() (err error) {
		if ln, err = net.Listen("tcp4", addr.String()); err != nil {
			return err
		}
		if pc, err = net.ListenPacket("udp4", addr.String()); err != nil {
			ln.Close()
		}
		return err
	})
	return ln, pc, err
}

// server listens on TCP and UDP at one address in a netns and tells each
// client the address it saw it come from: UDP answers every datagram with
// it; TCP sends it on accept, then counts what the client sends until
// EOF and answers with the count.
type server struct {
	Addr netip.AddrPort
	tcp  net.Listener
	udp  net.PacketConn
	wg   sync.WaitGroup
}

func startServer(t *testing.T, ns string, addr netip.AddrPort) *server {
	t.Helper()
	s := &server{Addr: addr}
	var err error
	if s.tcp, s.udp, err = listenTCPUDP(ns, addr); err != nil {
		t.Fatalf("server on %s in %s: %v", addr, ns, err)
	}
	s.wg.Add(2)
	go s.serveTCP()
	go s.serveUDP()
	t.Cleanup(func() {
		s.tcp.Close()
		s.udp.Close()
		s.wg.Wait()
	})
	return s
}

func (s *server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintln(c, c.RemoteAddr())
			n, _ := io.Copy(io.Discard, c)
			fmt.Fprintln(c, n)
		}()
	}
}

func (s *server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		_, peer, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = s.udp.WriteTo([]byte(peer.String()+"\n"), peer)
	}
}

// fromPort is a local address with any IP and the given port.
func fromPort(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
}

// tcpClient is a connection to a server, opened from a netns.
type tcpClient struct {
	conn *net.TCPConn
	r    *bufio.Reader
	Seen netip.AddrPort // the client's address as the server saw it
}

// dialTCP connects from ns to dst, from local if it is valid, and reads
// the address the server saw.
func dialTCP(ns string, local, dst netip.AddrPort, timeout time.Duration) (*tcpClient, error) {
	d := net.Dialer{Timeout: timeout}
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
	cl := &tcpClient{conn: c.(*net.TCPConn), r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := cl.r.ReadString('\n')
	if err == nil {
		cl.Seen, err = netip.ParseAddrPort(strings.TrimSpace(line))
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read the address %s saw: %w", dst, err)
	}
	return cl, nil
}

// mustDialTCP is dialTCP that fails the test, and closes the connection at
// its end.
func mustDialTCP(t *testing.T, ns string, local, dst netip.AddrPort) *tcpClient {
	t.Helper()
	c, err := dialTCP(ns, local, dst, 5*time.Second)
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", ns, dst, err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

// send writes n bytes, closes its sending side and returns what the
// server counted: a round trip over the whole flow.
func (c *tcpClient) send(n int, timeout time.Duration) (int, error) {
	_ = c.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := c.conn.Write(make([]byte, n)); err != nil {
		return 0, fmt.Errorf("send %d bytes: %w", n, err)
	}
	if err := c.conn.CloseWrite(); err != nil {
		return 0, fmt.Errorf("close sending side: %w", err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("read the count: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(line))
}

// mustSend is send that fails the test unless the server got all n bytes.
func (c *tcpClient) mustSend(t *testing.T, n int) {
	t.Helper()
	got, err := c.send(n, 20*time.Second)
	if err != nil || got != n {
		t.Fatalf("send %d bytes from %s: server counted %d: %v", n, c.conn.LocalAddr(), got, err)
	}
}

// askUDP sends a datagram from ns (from local if it is valid) to dst and
// returns the address the server saw.
func askUDP(ns string, local, dst netip.AddrPort) (netip.AddrPort, error) {
	c, err := dialUDP(ns, local, dst)
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer c.Close()
	return ask(c)
}

// ask sends a datagram on c and returns the address the server saw. A
// lost datagram is sent again.
func ask(c *net.UDPConn) (netip.AddrPort, error) {
	buf := make([]byte, 128)
	var err error
	for range 3 {
		if _, err = c.Write([]byte("?")); err != nil {
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		var n int
		if n, err = c.Read(buf); err == nil {
			return netip.ParseAddrPort(strings.TrimSpace(string(buf[:n])))
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	return netip.AddrPort{}, fmt.Errorf("ask %s over udp from %s: %w", c.RemoteAddr(), c.LocalAddr(), err)
}

// dialUDP is a connected UDP socket in ns, from local if it is valid: the
// kernel reports ICMP errors about its datagrams on its next read.
func dialUDP(ns string, local, dst netip.AddrPort) (*net.UDPConn, error) {
	var laddr *net.UDPAddr
	if local.IsValid() {
		laddr = net.UDPAddrFromAddrPort(local)
	}
	var c *net.UDPConn
	err := world.InNetns(ns, func() (err error) {
		c, err = net.DialUDP("udp4", laddr, net.UDPAddrFromAddrPort(dst))
		return err
	})
	return c, err
}

// icmpWatch records the echo requests that reach a world's ext: their
// source address, and their identifier as the port.
type icmpWatch struct {
	w    *world.World
	conn *net.IPConn
	mu   sync.Mutex
	seen []netip.AddrPort
	done chan struct{}
}

func watchEchoRequests(t *testing.T, w *world.World) *icmpWatch {
	t.Helper()
	iw := &icmpWatch{w: w, done: make(chan struct{})}
	err := world.InNetns(w.Ext, func() (err error) {
		iw.conn, err = net.ListenIP("ip4:icmp", &net.IPAddr{IP: net.IPv4zero})
		return err
	})
	if err != nil {
		t.Fatalf("raw icmp socket in %s: %v", w.Ext, err)
	}
	go iw.read()
	t.Cleanup(func() {
		iw.conn.Close()
		<-iw.done
	})
	return iw
}

func (w *icmpWatch) read() {
	defer close(w.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := w.conn.ReadFromIP(buf)
		if err != nil {
			return
		}
		if n >= 8 && buf[0] == 8 { // echo request
			a, _ := netip.AddrFromSlice(from.IP.To4())
			w.mu.Lock()
			w.seen = append(w.seen, netip.AddrPortFrom(a, binary.BigEndian.Uint16(buf[4:6])))
			w.mu.Unlock()
		}
	}
}

// requests are the echo requests seen so far.
func (w *icmpWatch) requests() []netip.AddrPort {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seen)
}

// ping sends one echo request with the given identifier from ns to dst in
// ext, fails the test unless the reply comes back, and returns the request
// as it arrived.
func (w *icmpWatch) ping(t *testing.T, ns string, id uint16, dst netip.Addr) netip.AddrPort {
	t.Helper()
	before := len(w.requests())
	w.w.MustExec(ns, "ping", "-c", "1", "-W", "2", "-e", strconv.Itoa(int(id)), dst.String())
	// The raw socket has the request before the reply leaves, but its
	// reader may not have taken it yet.
	var seen []netip.AddrPort
	world.Wait(time.Second, func() bool { seen = w.requests(); return len(seen) > before })
	if len(seen) != before+1 {
		t.Fatalf("ping from %s with id %d: %d echo requests arrived, want 1", ns, id, len(seen)-before)
	}
	return seen[before]
}
