package resolver

import (
	"context"
	"errors"
	"net/netip"

	"github.com/miekg/dns"
)

// answer is the resolver's reply to a query from src on a network, or
// nil to drop it.
func (r *Resolver) answer(ctx context.Context, network string, src netip.Addr, udp bool, req *dns.Msg) *dns.Msg {
	m, up := r.prepare(network, src, req)
	if up == nil {
		return m
	}
	return r.forward(ctx, up, udp, req)
}

// upstream is a query that goes upstream: the names it was asked
// against, and who asked.
type upstream struct {
	t *Table
	a *asker
}

// prepare answers a query from the networks' names, or says it goes
// upstream: a nil answer and a nil upstream drop it.
func (r *Resolver) prepare(network string, src netip.Addr, req *dns.Msg) (*dns.Msg, *upstream) {
	t := r.table.Load()
	a := t.asker(network, src)
	if a == nil {
		r.Stats.Outside.Add(1) // it left the network since it was let in
		return nil, nil
	}
	r.Stats.Queries.Add(1)
	if len(req.Question) != 1 {
		r.Stats.Malformed.Add(1)
		return reply(req, dns.RcodeFormatError), nil
	}
	q := req.Question[0]
	if req.Opcode != dns.OpcodeQuery || q.Qclass != dns.ClassINET {
		r.Stats.Refused.Add(1)
		return reply(req, dns.RcodeNotImplemented), nil
	}
	if m := t.local(a, network, req); m != nil {
		r.countLocal(m)
		return m, nil
	}
	if q.Qtype == dns.TypeANY {
		// Only the names here are answered to ANY: forwarded, it is
		// the query that amplifies most (RFC 8482).
		r.Stats.Refused.Add(1)
		return reply(req, dns.RcodeNotImplemented), nil
	}
	return nil, &upstream{t: t, a: a}
}

func (r *Resolver) countLocal(m *dns.Msg) {
	r.Stats.Local.Add(1)
	switch {
	case m.Rcode == dns.RcodeNameError:
		r.Stats.NXDomain.Add(1)
	case len(m.Answer) == 0:
		r.Stats.NoData.Add(1)
	}
}

// forward has an upstream answer a name the networks do not hold: the
// asker's own servers (--dns), else the daemon's.
func (r *Resolver) forward(ctx context.Context, up *upstream, udp bool, req *dns.Msg) *dns.Msg {
	if !up.t.forwards(up.a) {
		r.Stats.ServFail.Add(1)
		return reply(req, dns.RcodeServerFailure)
	}
	network := "tcp"
	if udp {
		network = "udp"
	}
	resp, err := r.fwd.forward(ctx, req, network, up.a.upstreams)
	if err != nil {
		r.Stats.ServFail.Add(1)
		if errors.Is(err, errBusy) {
			r.Stats.Busy.Add(1)
		}
		return reply(req, dns.RcodeServerFailure)
	}
	r.Stats.Forwarded.Add(1)
	return resp
}
