package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
	"golang.org/x/sys/unix"
)

// The load a restart must not disturb, run on one path from a client netns
// to a server: a long-lived TCP stream echoed back, a loop opening a new
// TCP connection per request (CRR), and a UDP flow of numbered datagrams
// echoed back. Everything is counted by the phase of the test it started
// in. The rates are paced so three paths at once stay light on a 2-core
// machine, and fine enough that a 10 ms gap in forwarding loses datagrams.
const (
	streamChunk = 8 << 10
	streamEvery = 5 * time.Millisecond // 1.6 MB/s each way
	crrEvery    = 5 * time.Millisecond
	udpEvery    = 2 * time.Millisecond
	// opTimeout is what a CRR connection has to answer: long enough for
	// TCP to resend a lost SYN (1s), so a lost packet is a retransmission
	// and only a path that stays shut is a failure.
	opTimeout = 5 * time.Second
	// streamStall is how long the stream may go without progress before
	// it counts as broken.
	streamStall = 10 * time.Second
	// udpDrain is how long replies are awaited after the last datagram.
	udpDrain = time.Second
)

// tally is what one path counted in one phase.
type tally struct {
	StreamSent, StreamEchoed int64
	StreamMaxGap             time.Duration
	CRR, CRRFailed           int
	// TCPResent is what the clients' sockets, the stream's and the CRR
	// connections' that finished, retransmitted; TCPSpurious how many of
	// those the peer reported it already had (D-SACK), as a tail loss
	// probe on a slow machine is.
	TCPResent, TCPSpurious uint32
	UDPSent, UDPEchoed     int
	UDPReordered, UDPDup   int
	Errors                 []string // the first few
}

// UDPLost is what never came back, either way.
func (t tally) UDPLost() int { return t.UDPSent - t.UDPEchoed }

// TCPLost is what TCP resent for want of an acknowledgment.
func (t tally) TCPLost() uint32 { return t.TCPResent - min(t.TCPSpurious, t.TCPResent) }

// pathLoad is the load on one path.
type pathLoad struct {
	name     string
	dst      netip.AddrPort
	phases   []string
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu           sync.Mutex
	phase        int
	tallies      []tally
	stream       *net.TCPConn
	streamErr    error
	resentSeen   tcpResent // the stream's when the phase began
	lastEcho     time.Time
	sent, echoed int64 // the stream's totals, once it ended
	udp          *net.UDPConn
	udpPhase     []int // the phase each datagram was sent in, by number
	udpGot       []bool
	udpMax       int
}

// startLoad dials the stream and starts all three loads from ns to dst,
// counting into the first of the named phases.
func startLoad(t *testing.T, name, ns string, dst netip.AddrPort, phases []string) *pathLoad {
	t.Helper()
	l := &pathLoad{name: name, dst: dst, phases: phases, stop: make(chan struct{}), tallies: make([]tally, len(phases))}
	err := world.InNetns(ns, func() error {
		c, err := net.DialTimeout("tcp4", dst.String(), opTimeout)
		if err != nil {
			return fmt.Errorf("stream: %w", err)
		}
		l.stream = c.(*net.TCPConn)
		l.udp, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		t.Fatalf("%s load from %s to %s: %v", name, ns, dst, err)
	}
	l.lastEcho = time.Now()
	l.wg.Add(5)
	go l.streamWrite()
	go l.streamRead()
	go l.udpSend()
	go l.udpRecv()
	go func() {
		defer l.wg.Done()
		if err := world.InNetns(ns, l.crr); err != nil {
			l.note(0, err)
		}
	}()
	t.Cleanup(func() { // does something only if the test failed half way
		l.finish()
		l.udp.Close()
		l.stream.Close()
		l.wg.Wait()
	})
	return l
}

// enter starts phase i; the stream's retransmissions so far go to the
// phase that ends.
func (l *pathLoad) enter(i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closePhase()
	l.phase = i
}

func (l *pathLoad) closePhase() {
	r, err := resent(l.stream)
	if err != nil {
		l.noteLocked(l.phase, err)
		return
	}
	t := &l.tallies[l.phase]
	t.TCPResent += r.segments - l.resentSeen.segments
	t.TCPSpurious += r.spurious - l.resentSeen.spurious
	l.resentSeen = r
}

// add counts into the tally of a phase, the current one if p < 0.
func (l *pathLoad) add(p int, fn func(*tally)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p < 0 {
		p = l.phase
	}
	fn(&l.tallies[p])
}

func (l *pathLoad) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phase
}

func (l *pathLoad) note(p int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.noteLocked(p, err)
}

func (l *pathLoad) noteLocked(p int, err error) {
	if t := &l.tallies[p]; len(t.Errors) < 3 {
		t.Errors = append(t.Errors, err.Error())
	}
}

// finish stops sending and ends the stream with a half close, which the
// echo server answers with its own once it has echoed everything.
func (l *pathLoad) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
}

// wait waits for the load to end, udpDrain after finish: what has not come
// back by then is lost.
func (l *pathLoad) wait() {
	l.udp.Close()
	l.wg.Wait()
	l.mu.Lock()
	l.closePhase()
	l.mu.Unlock()
	l.stream.Close()
}

// pattern is the stream's byte at an offset: a period prime to the chunk
// size, so a lost, repeated or reordered chunk shows.
func pattern(off int64) byte { return byte(off % 251) }

func (l *pathLoad) streamWrite() {
	defer l.wg.Done()
	buf := make([]byte, streamChunk)
	var off int64
	tick := time.NewTicker(streamEvery)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			l.mu.Lock()
			l.sent = off
			l.mu.Unlock()
			if err := l.stream.CloseWrite(); err != nil {
				l.streamFailed(err)
			}
			return
		case <-tick.C:
		}
		for i := range buf {
			buf[i] = pattern(off + int64(i))
		}
		_ = l.stream.SetWriteDeadline(time.Now().Add(streamStall))
		n, err := l.stream.Write(buf)
		off += int64(n)
		l.add(-1, func(t *tally) { t.StreamSent += int64(n) })
		if err != nil {
			l.streamFailed(fmt.Errorf("send: %w", err))
			return
		}
	}
}

func (l *pathLoad) streamRead() {
	defer l.wg.Done()
	buf := make([]byte, 64<<10)
	var off int64
	for {
		_ = l.stream.SetReadDeadline(time.Now().Add(streamStall))
		n, err := l.stream.Read(buf)
		for i := range n {
			if buf[i] != pattern(off+int64(i)) {
				l.streamFailed(fmt.Errorf("byte %d of the echo is wrong", off+int64(i)))
				return
			}
		}
		off += int64(n)
		now := time.Now()
		l.mu.Lock()
		t := &l.tallies[l.phase]
		t.StreamEchoed += int64(n)
		t.StreamMaxGap = max(t.StreamMaxGap, now.Sub(l.lastEcho))
		l.lastEcho = now
		if errors.Is(err, io.EOF) {
			l.echoed = off
		}
		l.mu.Unlock()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			l.streamFailed(fmt.Errorf("receive: %w", err))
			return
		}
	}
}

func (l *pathLoad) streamFailed(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streamErr == nil {
		l.streamErr = fmt.Errorf("in phase %s: %w", l.phases[l.phase], err)
	}
}

// crr runs in the client netns, where each connection's socket is made.
func (l *pathLoad) crr() error {
	tick := time.NewTicker(crrEvery)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return nil
		case <-tick.C:
		}
		p := l.current()
		r, err := crrOnce(l.dst)
		l.add(p, func(t *tally) {
			t.CRR++
			t.TCPResent += r.segments
			t.TCPSpurious += r.spurious
			if err != nil {
				t.CRRFailed++
			}
		})
		if err != nil {
			l.note(p, fmt.Errorf("crr: %w", err))
		}
	}
}

// crrOnce connects, has a request echoed and closes; it returns what the
// connection resent.
func crrOnce(dst netip.AddrPort) (tcpResent, error) {
	c, err := net.DialTimeout("tcp4", dst.String(), opTimeout)
	if err != nil {
		return tcpResent{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(opTimeout))
	req, resp := []byte("crr-ping"), make([]byte, 8)
	if _, err := c.Write(req); err != nil {
		return tcpResent{}, err
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		return tcpResent{}, err
	}
	if !bytes.Equal(req, resp) {
		return tcpResent{}, fmt.Errorf("echo %q, want %q", resp, req)
	}
	return resent(c.(*net.TCPConn))
}

// tcpResent is what a TCP socket retransmitted (SYNs too), and how many of
// those the peer reported as duplicates.
type tcpResent struct{ segments, spurious uint32 }

func resent(c *net.TCPConn) (tcpResent, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return tcpResent{}, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return tcpResent{}, err
	}
	if ierr != nil {
		return tcpResent{}, fmt.Errorf("read TCP_INFO: %w", ierr)
	}
	return tcpResent{info.Total_retrans, info.Dsack_dups}, nil
}

func (l *pathLoad) udpSend() {
	defer l.wg.Done()
	tick := time.NewTicker(udpEvery)
	defer tick.Stop()
	buf := make([]byte, 4)
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		l.mu.Lock()
		seq := len(l.udpPhase)
		l.udpPhase = append(l.udpPhase, l.phase)
		l.udpGot = append(l.udpGot, false)
		l.tallies[l.phase].UDPSent++
		l.mu.Unlock()
		binary.BigEndian.PutUint32(buf, uint32(seq))
		if _, err := l.udp.WriteToUDPAddrPort(buf, l.dst); err != nil {
			l.note(l.current(), fmt.Errorf("udp send: %w", err))
		}
	}
}

// udpRecv counts the echoes until wait closes the socket.
func (l *pathLoad) udpRecv() {
	defer l.wg.Done()
	buf := make([]byte, 64)
	for {
		n, _, err := l.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if n != 4 {
			continue
		}
		seq := int(binary.BigEndian.Uint32(buf))
		l.mu.Lock()
		if seq < len(l.udpPhase) {
			t := &l.tallies[l.udpPhase[seq]]
			switch {
			case l.udpGot[seq]:
				t.UDPDup++
			case seq < l.udpMax:
				t.UDPReordered++
				fallthrough
			default:
				l.udpGot[seq] = true
				t.UDPEchoed++
				l.udpMax = max(l.udpMax, seq)
			}
		}
		l.mu.Unlock()
	}
}

// startEcho echoes TCP and UDP at one address of a netns until the test
// ends.
func startEcho(t *testing.T, ns string, addr netip.AddrPort) {
	t.Helper()
	ln, pc, err := listenTCPUDP(ns, addr)
	if err != nil {
		t.Fatalf("echo server on %s in %s: %v", addr, ns, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			n, peer, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], peer)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		pc.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
