package resolver

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/store"
)

var (
	web   = store.Network{Name: "web", Subnet: netip.MustParsePrefix("10.10.0.0/24"), Gateway: addr("10.10.0.1")}
	other = store.Network{Name: "Other", Subnet: netip.MustParsePrefix("10.11.0.0/24"), Gateway: addr("10.11.0.1")}
	vault = store.Network{Name: "vault", Subnet: netip.MustParsePrefix("10.12.0.0/24"), Gateway: addr("10.12.0.1"), Internal: true}
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func ep(name string, ifs ...store.Interface) store.Endpoint {
	return store.Endpoint{Name: name, State: store.StateReady, Netns: "/run/netns/" + name, Interfaces: ifs}
}

func on(n store.Network, ip string, aliases ...string) store.Interface {
	return store.Interface{Network: n.Name, IP: addr(ip), Aliases: aliases}
}

// testResolver serves a table of four endpoints on web, Other and vault,
// with no upstream.
func testResolver() *Resolver {
	r := New(10053, FixedUpstreams(nil), zap.NewNop())
	gone := ep("ghost", on(web, "10.10.0.9", "api"))
	gone.State = store.StateGone
	r.table.Store(Build([]store.Network{web, other, vault}, []store.Endpoint{
		ep("api1", on(web, "10.10.0.2", "api")),
		ep("api2", on(web, "10.10.0.3", "API", "api")),
		ep("client", on(web, "10.10.0.4")),
		ep("both", on(other, "10.11.0.2", "db"), on(web, "10.10.0.5")),
		ep("lonely", on(other, "10.11.0.3")),
		ep("shut", on(vault, "10.12.0.2", "safe")),
		gone,
	}))
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	return m
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.PTR:
			out = append(out, rr.Ptr)
		}
	}
	return out
}

func TestLocalAnswers(t *testing.T) {
	r := testResolver()
	for _, tc := range []struct {
		name    string
		network string
		src     string
		q       *dns.Msg
		rcode   int
		want    []string // in any order
	}{
		{"a name", "web", "10.10.0.4", query("api1", dns.TypeA), dns.RcodeSuccess, []string{"10.10.0.2"}},
		{"case-insensitive", "web", "10.10.0.4", query("ApI1.", dns.TypeA), dns.RcodeSuccess, []string{"10.10.0.2"}},
		{"an alias: every address, once", "web", "10.10.0.4", query("api", dns.TypeA), dns.RcodeSuccess,
			[]string{"10.10.0.2", "10.10.0.3"}},
		{"a gone endpoint has no name", "web", "10.10.0.4", query("ghost", dns.TypeA), dns.RcodeServerFailure, nil},
		{"NAME.NETWORK", "web", "10.10.0.4", query("api1.web", dns.TypeA), dns.RcodeSuccess, []string{"10.10.0.2"}},
		{"NAME.NETWORK, the network's name in any case", "Other", "10.11.0.3", query("both.other", dns.TypeA),
			dns.RcodeSuccess, []string{"10.11.0.2"}},
		{"the network asked on first", "Other", "10.11.0.2", query("both", dns.TypeA), dns.RcodeSuccess, []string{"10.11.0.2"}},
		{"then the asker's other networks", "Other", "10.11.0.2", query("api1", dns.TypeA), dns.RcodeSuccess, []string{"10.10.0.2"}},
		{"not a network the asker is not on", "Other", "10.11.0.3", query("api1", dns.TypeA), dns.RcodeServerFailure, nil},
		{"an alias on one network only", "web", "10.10.0.4", query("db", dns.TypeA), dns.RcodeServerFailure, nil},
		{"NODATA", "web", "10.10.0.4", query("api1", dns.TypeAAAA), dns.RcodeSuccess, nil},
		{"ANY of a local name", "web", "10.10.0.4", query("api1", dns.TypeANY), dns.RcodeSuccess, []string{"10.10.0.2"}},
		{"ANY of another", "web", "10.10.0.4", query("example.org", dns.TypeANY), dns.RcodeNotImplemented, nil},
		{"PTR", "web", "10.10.0.4", query("2.0.10.10.in-addr.arpa", dns.TypePTR), dns.RcodeSuccess, []string{"api1.web."}},
		{"PTR on another of the asker's networks", "web", "10.10.0.5", query("3.0.11.10.in-addr.arpa", dns.TypePTR),
			dns.RcodeSuccess, []string{"lonely.Other."}},
		{"PTR of a free address of the network", "web", "10.10.0.4", query("99.0.10.10.in-addr.arpa", dns.TypePTR),
			dns.RcodeNameError, nil},
		{"PTR elsewhere goes upstream", "web", "10.10.0.4", query("8.8.8.8.in-addr.arpa", dns.TypePTR), dns.RcodeServerFailure, nil},
		{"internal only: names", "vault", "10.12.0.2", query("safe", dns.TypeA), dns.RcodeSuccess, []string{"10.12.0.2"}},
		{"internal only: no forwarding", "vault", "10.12.0.2", query("example.org", dns.TypeA), dns.RcodeServerFailure, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := r.answer(context.Background(), tc.network, addr(tc.src), true, tc.q)
			if m == nil {
				t.Fatal("no answer")
			}
			if m.Rcode != tc.rcode || !sameSet(answers(m), tc.want) {
				t.Fatalf("got %s %v, want %s %v", dns.RcodeToString[m.Rcode], answers(m), dns.RcodeToString[tc.rcode], tc.want)
			}
			if m.Id != tc.q.Id || !m.Response {
				t.Fatalf("the answer's id %d response %v, want %d true", m.Id, m.Response, tc.q.Id)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// An alias's addresses take turns first, as Docker's round robin.
func TestRotation(t *testing.T) {
	r := testResolver()
	firsts := map[string]int{}
	for range 10 {
		m := r.answer(context.Background(), "web", addr("10.10.0.4"), true, query("api", dns.TypeA))
		firsts[answers(m)[0]]++
	}
	if firsts["10.10.0.2"] != 5 || firsts["10.10.0.3"] != 5 {
		t.Fatalf("first answers over 10 queries: %v, want 5 each", firsts)
	}
}

// Who is no endpoint of the network gets nothing; what is no query gets
// an error; each is counted.
func TestRefusals(t *testing.T) {
	r := testResolver()
	if m := r.answer(context.Background(), "web", addr("10.11.0.3"), true, query("api1", dns.TypeA)); m != nil {
		t.Fatalf("an endpoint of another network got %v", m)
	}
	if m := r.answer(context.Background(), "nope", addr("10.10.0.4"), true, query("api1", dns.TypeA)); m != nil {
		t.Fatalf("a network with no resolver answered %v", m)
	}
	two := query("api1", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	chaos := query("version.bind", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	update := query("api1", dns.TypeA)
	update.Opcode = dns.OpcodeUpdate
	for _, tc := range []struct {
		q     *dns.Msg
		rcode int
	}{{two, dns.RcodeFormatError}, {chaos, dns.RcodeNotImplemented}, {update, dns.RcodeNotImplemented}} {
		if m := r.answer(context.Background(), "web", addr("10.10.0.4"), true, tc.q); m == nil || m.Rcode != tc.rcode {
			t.Fatalf("%v: got %v, want %s", tc.q.Question, m, dns.RcodeToString[tc.rcode])
		}
	}
	c := r.Stats.Counts()
	if c["outside-source"] != 2 || c["malformed"] != 1 || c["refused"] != 2 {
		t.Fatalf("counts %v", c)
	}
}

func TestNameservers(t *testing.T) {
	got := Nameservers([]byte("# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch x\nnameserver ::1\n" +
		"nameserver 2001:db8::1\nnameserver fe80::1%eth0\nnameserver bogus\n"))
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("[2001:db8::1]:53")}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestResolvConf(t *testing.T) {
	got := string(ResolvConf("/var/lib/x", store.DNSConf{Search: []string{"a.example", "b"}}, nil))
	want := mark("/var/lib/x") + "nameserver 127.0.0.11\nsearch a.example b\noptions ndots:0\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
