package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// FuzzQuery: whatever an endpoint sends that parses, the resolver
// answers with a message that packs (or drops it), and never panics.
func FuzzQuery(f *testing.F) {
	for _, q := range []*dns.Msg{query("api", dns.TypeA), query("2.0.10.10.in-addr.arpa", dns.TypePTR),
		query("api1.web", dns.TypeANY), query("x.in-addr.arpa", dns.TypePTR)} {
		q.SetEdns0(4096, true)
		b, _ := q.Pack()
		f.Add(b, true)
	}
	r := testResolver()
	f.Fuzz(func(t *testing.T, raw []byte, udp bool) {
		req := new(dns.Msg)
		if req.Unpack(raw) != nil {
			return
		}
		m := r.answer(context.Background(), "web", addr("10.10.0.4"), udp, req)
		if m == nil {
			return
		}
		if udp {
			m.Truncate(udpSize(req))
		}
		if _, err := m.Pack(); err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, m)
		}
	})
}
