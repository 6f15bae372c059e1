package resolver

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// ttl of the local answers: none. A name follows its endpoint from one
// query to the next, so no cache downstream may keep the old address.
const ttl = 0

// local answers a question for a name the asker's networks hold, or
// returns nil: the name is not theirs, and goes upstream.
func (t *Table) local(a *asker, asked string, req *dns.Msg) *dns.Msg {
	q := req.Question[0]
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	if q.Qtype == dns.TypePTR {
		return t.localPTR(a, asked, req, name)
	}
	r, ok := t.lookup(a, asked, name)
	if !ok {
		return nil
	}
	m := reply(req, dns.RcodeSuccess)
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeANY {
		return m // the name is here, with no record of that type: NODATA
	}
	for _, ip := range r.rotated() {
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
			A:   net.IP(ip.AsSlice()),
		})
	}
	return m
}

// localPTR answers a reverse lookup of an address on the asker's
// networks; one elsewhere goes upstream.
func (t *Table) localPTR(a *asker, asked string, req *dns.Msg, name string) *dns.Msg {
	addr, ok := reverseAddr(name)
	if !ok {
		return nil
	}
	host, ours := t.reverse(a, asked, addr)
	switch {
	case host != "":
		m := reply(req, dns.RcodeSuccess)
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl},
			Ptr: dns.Fqdn(host),
		})
		return m
	case ours:
		return reply(req, dns.RcodeNameError)
	}
	return nil
}

// reverseAddr reads d.c.b.a.in-addr.arpa.
func reverseAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa")
	if !ok {
		return netip.Addr{}, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return netip.Addr{}, false
	}
	for i, j := 0, 3; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	addr, err := netip.ParseAddr(strings.Join(parts, "."))
	return addr, err == nil && addr.Is4()
}

// reply is the start of an answer to req with rcode: recursion is
// available (the resolver forwards), and an EDNS0 asker gets EDNS0.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative = rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(maxUDP, false)
	}
	return m
}

// maxUDP is the largest UDP answer the resolver sends, whatever an
// asker offers: DNS flag day 2020's size, which no path fragments.
const maxUDP = 1232

// udpSize is the largest answer a UDP asker takes: 512, or what its
// EDNS0 says, up to maxUDP.
func udpSize(req *dns.Msg) int {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
		size = int(opt.UDPSize())
	}
	return min(size, maxUDP)
}
