package world

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Upstream is a DNS server in one of the world's namespaces, standing for
// the node's upstream resolver: it answers A for every name under its
// zone with one address, NXDOMAIN for the others, on UDP and TCP.
type Upstream struct {
	Addr    netip.AddrPort
	zone    string
	answer  netip.Addr
	delay   atomic.Int64 // ns before each answer
	queries atomic.Uint64
	servers []*dns.Server
}

// StartUpstream serves zone on addr inside netns, until the test ends.
func StartUpstream(t T, netns string, addr netip.AddrPort, zone string, answer netip.Addr) *Upstream {
	t.Helper()
	u := &Upstream{Addr: addr, zone: dns.Fqdn(strings.ToLower(zone)), answer: answer}
	var pc net.PacketConn
	var ln net.Listener
	err := InNetns(netns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", addr.String()); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", addr.String()); err != nil {
			_ = pc.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("upstream on %s: %v", addr, err)
	}
	u.servers = []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}}
	for _, s := range u.servers {
		go func() { _ = s.ActivateAndServe() }()
	}
	t.Cleanup(u.Stop)
	return u
}

// ServeDNS answers a query, after the delay set.
func (u *Upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	time.Sleep(time.Duration(u.delay.Load()))
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	switch {
	case !dns.IsSubDomain(u.zone, strings.ToLower(q.Name)):
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: u.answer.AsSlice()}}
	}
	_ = w.WriteMsg(m)
}

// SetDelay makes every answer wait d.
func (u *Upstream) SetDelay(d time.Duration) { u.delay.Store(int64(d)) }

// Queries is how many queries reached it.
func (u *Upstream) Queries() uint64 { return u.queries.Load() }

// Stop closes its sockets: queries to it meet a closed port.
func (u *Upstream) Stop() {
	for _, s := range u.servers {
		_ = s.Shutdown()
	}
	u.servers = nil
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
