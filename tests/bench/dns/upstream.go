package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// upstream is the resolver both sides forward to: an authoritative server
// for one zone, answering A for every name in it with one address, on UDP
// and TCP, in the ext namespace of a world.
type upstream struct {
	addr    netip.AddrPort
	servers []*dns.Server
	done    chan error
}

// startUpstream serves zone on addr inside netns until stop.
func startUpstream(netns string, addr netip.AddrPort, zone string, answer netip.Addr, ttl uint32) (*upstream, error) {
	var pc net.PacketConn
	var ln net.Listener
	err := world.InNetns(netns, func() error {
		var err error
		if pc, err = net.ListenPacket("udp4", addr.String()); err != nil {
			return err
		}
		if ln, err = net.Listen("tcp4", addr.String()); err != nil {
			pc.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	zone = dns.Fqdn(strings.ToLower(zone))
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
		} else if q := r.Question[0]; !dns.IsSubDomain(zone, strings.ToLower(q.Name)) {
			m.Rcode = dns.RcodeRefused
		} else if q.Qtype == dns.TypeA && q.Qclass == dns.ClassINET {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   answer.AsSlice(),
			}}
		} // other types: NOERROR, no data
		_ = w.WriteMsg(m)
	})
	u := &upstream{addr: addr, done: make(chan error, 2)}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	u.servers = []*dns.Server{
		{PacketConn: pc, Handler: h, NotifyStartedFunc: notify},
		{Listener: ln, Handler: h, NotifyStartedFunc: notify},
	}
	for _, s := range u.servers {
		go func() { u.done <- s.ActivateAndServe() }()
	}
	// Shutdown fails on a server not started yet.
	for range u.servers {
		select {
		case <-started:
		case err := <-u.done:
			pc.Close()
			ln.Close()
			return nil, fmt.Errorf("upstream: %w", err)
		}
	}
	return u, nil
}

// stop shuts both servers down and closes their sockets.
func (u *upstream) stop() error {
	var errs []error
	for _, s := range u.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	for range u.servers {
		if err := <-u.done; err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
