package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// serveUDP answers a network's queries over UDP, on one goroutine: a
// query answered from the names is read, answered and written there, with
// no hand-off (two readers, or a goroutine per query, measured a worse
// p99 on two cores); one that goes upstream gets a goroutine of its own,
// so that a slow upstream holds up no other query. Datagrams from
// sources outside the network are dropped unparsed. It returns when pc
// is closed.
func (r *Resolver) serveUDP(network string, pc *net.UDPConn) {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue // an ICMP error of an earlier answer, and the like
		}
		src := from.Addr().Unmap()
		if !r.table.Load().allows(network, src) {
			r.Stats.Outside.Add(1)
			continue
		}
		req := new(dns.Msg)
		if err := req.Unpack(buf[:n]); err != nil || req.Response {
			r.Stats.Malformed.Add(1)
			if n >= 12 && err != nil {
				r.writeUDP(pc, from, nil, formErr(buf[:n]))
			}
			continue
		}
		m, up := r.prepare(network, src, req)
		switch {
		case up != nil:
			go func() { r.writeUDP(pc, from, req, r.forward(context.Background(), up, true, req)) }()
		case m != nil:
			r.writeUDP(pc, from, req, m)
		}
	}
}

// writeUDP sends an answer, cut to what the asker takes.
func (r *Resolver) writeUDP(pc *net.UDPConn, to netip.AddrPort, req, m *dns.Msg) {
	if req != nil {
		if m.Truncate(udpSize(req)); m.Truncated {
			r.Stats.Truncated.Add(1)
		}
	}
	b, err := m.Pack()
	if err != nil {
		return
	}
	_, _ = pc.WriteToUDPAddrPort(b, to)
}

// formErr is FORMERR for a query whose header parses and the rest not.
func formErr(raw []byte) *dns.Msg {
	m := new(dns.Msg)
	m.Id = binary.BigEndian.Uint16(raw)
	m.Response, m.Rcode = true, dns.RcodeFormatError
	return m
}
