package world

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Upstream is a DNS server in one of the world's namespaces, standing for
// the node's upstream resolver (the names tests' and the DNS bench's): it
// answers A for every name under its zone with one address, NXDOMAIN for
// the others, on UDP and TCP.
type Upstream struct {
	Addr    netip.AddrPort
	zone    string
	answer  netip.Addr
	delay   atomic.Int64  // ns before each answer
	ttl     atomic.Uint32 // of the answers
	queries atomic.Uint64

	mu      sync.Mutex
	servers []*dns.Server
	done    chan error
}

// StartUpstream serves zone on addr inside netns, answering with TTL 60,
// until Stop or the end of the test.
func StartUpstream(t T, netns string, addr netip.AddrPort, zone string, answer netip.Addr) *Upstream {
	t.Helper()
	u := &Upstream{Addr: addr, zone: dns.Fqdn(strings.ToLower(zone)), answer: answer, done: make(chan error, 2)}
	u.ttl.Store(60)
	if err := u.start(netns); err != nil {
		t.Fatalf("upstream on %s: %v", addr, err)
	}
	t.Cleanup(func() {
		if err := u.Stop(); err != nil {
			t.Fatalf("upstream on %s: %v", addr, err)
		}
	})
	return u
}

// start opens the sockets in netns and returns once both servers run:
// Shutdown fails on a server not started yet.
func (u *Upstream) start(netns string) error {
	var pc net.PacketConn
	var ln net.Listener
	err := InNetns(netns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", u.Addr.String()); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", u.Addr.String()); err != nil {
			_ = pc.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	u.servers = []*dns.Server{{PacketConn: pc, Handler: u, NotifyStartedFunc: notify},
		{Listener: ln, Handler: u, NotifyStartedFunc: notify}}
	for _, s := range u.servers {
		go func() { u.done <- s.ActivateAndServe() }()
	}
	for range u.servers {
		select {
		case <-started:
		case err := <-u.done:
			_, _ = pc.Close(), ln.Close()
			return fmt.Errorf("start: %w", err)
		}
	}
	return nil
}

// ServeDNS answers a query, after the delay set.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	time.Sleep(time.Duration(u.delay.Load()))
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch q := r.Question[0]; {
	case !dns.IsSubDomain(u.zone, strings.ToLower(q.Name)):
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET,
			Ttl: u.ttl.Load()}, A: u.answer.AsSlice()}}
	}
	_ = w.WriteMsg(m)
}

// SetDelay makes every answer wait d.
func (u *Upstream) SetDelay(d time.Duration) { u.delay.Store(int64(d)) }

// SetTTL sets the answers' TTL.
func (u *Upstream) SetTTL(ttl uint32) { u.ttl.Store(ttl) }

// Queries is how many queries reached it.
func (u *Upstream) Queries() uint64 { return u.queries.Load() }

// Stop shuts both servers down and closes their sockets: queries to it
// meet a closed port. Stopping again does nothing.
func (u *Upstream) Stop() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	var errs []error
	for _, s := range u.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.ShutdownContext(ctx))
		cancel()
	}
	for range u.servers {
		if err := <-u.done; err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	u.servers = nil
	return errors.Join(errs...)
}

// NetnsExec runs argv with `ip netns exec`, which gives it the
// namespace's /etc/netns/NAME files (its resolv.conf), inside the world's
// cgroup, where the socket programs apply. It returns the combined output.
func (w *World) NetnsExec(netns string, argv ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns}, argv...)...)
	w.IntoCgroup(cmd)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
