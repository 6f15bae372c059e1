package bpftest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// sockRecord is an enet_sock_rev entry a client's operation should
// leave: the socket of operation op was rewritten from orig to target.
type sockRecord struct {
	op     int
	proto  uint8
	target string
	orig   string
}

// TestSockPrograms: the node's own sockets reach published ports at the
// socket: connect4 and sendmsg4 rewrite 127.0.0.0/8, the uplink's address
// and those in enet_node_addrs for ports published on every address, and
// a host address for ports published on it, to the endpoint, unless the
// endpoint is gone; getpeername4 and recvmsg4 show
// the socket the address it was given, and only that socket. In an
// endpoint's namespace registered in enet_dns_ns, TCP and UDP to
// 127.0.0.11:53 go to the resolver the same way. Sockets in other
// namespaces, other protocols and other ports are left alone, and every
// call is allowed.
func TestSockPrograms(t *testing.T) {
	base := Load(t)
	cgroup := clientCgroup(t, base)
	node := newSockNetns(t,
		[]string{"198.51.100.1/32", "198.51.100.2/32", "10.10.0.1/32", "10.10.0.2/32", "10.10.0.3/32"},
		[]string{"10.10.0.2:80", "10.10.0.3:80", "10.10.0.3:81", "10.10.0.3:443",
			"0.0.0.0:8080", "0.0.0.0:8081", "0.0.0.0:9090", "0.0.0.0:8443", "0.0.0.0:7777"},
		[]string{"10.10.0.2:53", "127.0.0.1:5353", "198.51.100.1:5353", "127.0.0.1:8080"})
	elsewhere := newSockNetns(t, nil, []string{"0.0.0.0:8080"}, []string{"127.0.0.1:5353"})
	// Endpoint namespaces with the resolver's address on their loopback
	// and servers on it and beside 127.0.0.11:53: dns registered in
	// enet_dns_ns, dropped registered and deleted again, plain never.
	resolver := addr("10.10.0.1")                            // m1's network's gateway
	res := fmt.Sprintf("10.10.0.1:%d", maps.DNSResolverPort) // where it listens
	dnsServers := []string{res, "10.10.0.1:53", "127.0.0.11:53", "127.0.0.11:54", "127.0.0.12:53"}
	dnsNetns := func() sockNetns { return newSockNetns(t, []string{"10.10.0.1/32"}, dnsServers, dnsServers) }
	dns, dropped, plain := dnsNetns(), dnsNetns(), dnsNetns()
	op := func(kind, addr string) sockOp { return sockOp{kind, addr} }
	cases := []struct {
		name     string
		client   *sockNetns // where the client runs; nil: the node's netns
		noCookie bool       // enet_config has no netns cookie
		ops      []sockOp
		want     []sockResult // cookies left out
		records  []sockRecord
	}{
		{"TCP to 127.0.0.1", nil, false, []sockOp{op("tcp", "127.0.0.1:8080")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "127.0.0.1:8080"}}},
		{"TCP to another loopback address", nil, false, []sockOp{op("tcp", "127.0.0.5:8080")},
			[]sockResult{{Peer: "127.0.0.5:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "127.0.0.5:8080"}}},
		{"TCP to the uplink address", nil, false, []sockOp{op("tcp", "198.51.100.1:8080")},
			[]sockResult{{Peer: "198.51.100.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "198.51.100.1:8080"}}},
		{"TCP to an address enet_node_addrs lacks", nil, false, []sockOp{op("tcp", "198.51.100.2:8080")},
			[]sockResult{{Peer: "198.51.100.2:8080", Said: "198.51.100.2:8080"}}, nil},
		{"TCP to another address of the node", nil, false, []sockOp{op("tcp", "10.10.0.1:8080")},
			[]sockResult{{Peer: "10.10.0.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "10.10.0.1:8080"}}},
		{"UDP to another address of the node", nil, false, []sockOp{op("udp", "10.10.0.1:5353")},
			[]sockResult{{From: "10.10.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "10.10.0.1:5353"}}},
		{"TCP to another address of the node, published on one host address", nil, false,
			[]sockOp{op("tcp", "10.10.0.1:8443")}, []sockResult{{Peer: "10.10.0.1:8443", Said: "10.10.0.1:8443"}}, nil},
		{"TCP to a port published on 127.0.0.1", nil, false, []sockOp{op("tcp", "127.0.0.1:9090")},
			[]sockResult{{Peer: "127.0.0.1:9090", Said: "10.10.0.3:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:80", "127.0.0.1:9090"}}},
		{"TCP to the uplink address, published on 127.0.0.1", nil, false, []sockOp{op("tcp", "198.51.100.1:9090")},
			[]sockResult{{Peer: "198.51.100.1:9090", Said: "198.51.100.1:9090"}}, nil},
		{"TCP to a port published on one host address", nil, false, []sockOp{op("tcp", "198.51.100.2:8443")},
			[]sockResult{{Peer: "198.51.100.2:8443", Said: "10.10.0.3:443"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:443", "198.51.100.2:8443"}}},
		{"TCP to a port published on the uplink address", nil, false, []sockOp{op("tcp", "198.51.100.1:8081")},
			[]sockResult{{Peer: "198.51.100.1:8081", Said: "10.10.0.3:81"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:81", "198.51.100.1:8081"}}},
		{"TCP to 127.0.0.1, published on one host address", nil, false, []sockOp{op("tcp", "127.0.0.1:8443")},
			[]sockResult{{Peer: "127.0.0.1:8443", Said: "127.0.0.1:8443"}}, nil},
		{"TCP to an unpublished port", nil, false, []sockOp{op("tcp", "127.0.0.1:7777")},
			[]sockResult{{Peer: "127.0.0.1:7777", Said: "127.0.0.1:7777"}}, nil},
		{"UDP sendto and recvfrom", nil, false, []sockOp{op("udp", "127.0.0.1:5353")},
			[]sockResult{{From: "127.0.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}}},
		{"UDP to the uplink address", nil, false, []sockOp{op("udp", "198.51.100.1:5353")},
			[]sockResult{{From: "198.51.100.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "198.51.100.1:5353"}}},
		{"connected UDP", nil, false, []sockOp{op("udp-connect", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:5353", From: "127.0.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}}},
		{"UDP to a port published for TCP", nil, false, []sockOp{op("udp", "127.0.0.1:8080")},
			[]sockResult{{From: "127.0.0.1:8080", Said: "127.0.0.1:8080"}}, nil},
		{"ping socket to a port published for UDP", nil, false, []sockOp{op("ping", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:5353", From: "127.0.0.1:0"}}, nil},
		{"another socket to the endpoint itself", nil, false,
			[]sockOp{op("udp", "127.0.0.1:5353"), op("udp", "10.10.0.2:53"), op("tcp", "127.0.0.1:8080"), op("tcp", "10.10.0.2:80")},
			[]sockResult{
				{From: "127.0.0.1:5353", Said: "10.10.0.2:53"}, {From: "10.10.0.2:53", Said: "10.10.0.2:53"},
				{Peer: "127.0.0.1:8080", Said: "10.10.0.2:80"}, {Peer: "10.10.0.2:80", Said: "10.10.0.2:80"},
			},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}, {2, tcpProto, "10.10.0.2:80", "127.0.0.1:8080"}}},
		{"no netns cookie configured", nil, true,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"}}, nil},
		{"TCP and UDP to ports whose endpoint is gone", nil, false,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353"), op("tcp", "127.0.0.1:9090")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"},
				{Peer: "127.0.0.1:9090", Said: "10.10.0.3:80"}},
			[]sockRecord{{2, tcpProto, "10.10.0.3:80", "127.0.0.1:9090"}}},
		{"another netns", &elsewhere, false,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"}}, nil},
		{"connected UDP to 127.0.0.11:53 in a registered endpoint netns", &dns, false,
			[]sockOp{op("udp-connect", "127.0.0.11:53")},
			[]sockResult{{Peer: "127.0.0.11:53", From: "127.0.0.11:53", Said: res}},
			[]sockRecord{{0, udpProto, res, "127.0.0.11:53"}}},
		{"UDP sendto 127.0.0.11:53 in a registered endpoint netns", &dns, false,
			[]sockOp{op("udp", "127.0.0.11:53")},
			[]sockResult{{From: "127.0.0.11:53", Said: res}},
			[]sockRecord{{0, udpProto, res, "127.0.0.11:53"}}},
		{"TCP to 127.0.0.11:53 in a registered endpoint netns", &dns, false,
			[]sockOp{op("tcp", "127.0.0.11:53")},
			[]sockResult{{Peer: "127.0.0.11:53", Said: res}},
			[]sockRecord{{0, tcpProto, res, "127.0.0.11:53"}}},
		{"other sockets to the resolver itself", &dns, false,
			[]sockOp{op("udp-connect", "127.0.0.11:53"), op("udp-connect", res), op("tcp", res)},
			[]sockResult{{Peer: "127.0.0.11:53", From: "127.0.0.11:53", Said: res},
				{Peer: res, From: res, Said: res}, {Peer: res, Said: res}},
			[]sockRecord{{0, udpProto, res, "127.0.0.11:53"}}},
		{"127.0.0.11 on another port", &dns, false,
			[]sockOp{op("tcp", "127.0.0.11:54"), op("udp", "127.0.0.11:54")},
			[]sockResult{{Peer: "127.0.0.11:54", Said: "127.0.0.11:54"}, {From: "127.0.0.11:54", Said: "127.0.0.11:54"}}, nil},
		{"another loopback address on port 53", &dns, false,
			[]sockOp{op("tcp", "127.0.0.12:53"), op("udp", "127.0.0.12:53")},
			[]sockResult{{Peer: "127.0.0.12:53", Said: "127.0.0.12:53"}, {From: "127.0.0.12:53", Said: "127.0.0.12:53"}}, nil},
		{"ping socket to 127.0.0.11", &dns, false, []sockOp{op("ping", "127.0.0.11:53")},
			[]sockResult{{Peer: "127.0.0.11:53", From: "127.0.0.11:0"}}, nil},
		{"an unregistered endpoint netns", &plain, false,
			[]sockOp{op("tcp", "127.0.0.11:53"), op("udp", "127.0.0.11:53"), op("udp-connect", "127.0.0.11:53")},
			[]sockResult{{Peer: "127.0.0.11:53", Said: "127.0.0.11:53"}, {From: "127.0.0.11:53", Said: "127.0.0.11:53"},
				{Peer: "127.0.0.11:53", From: "127.0.0.11:53", Said: "127.0.0.11:53"}}, nil},
		{"an endpoint netns whose registration was deleted", &dropped, false,
			[]sockOp{op("tcp", "127.0.0.11:53"), op("udp", "127.0.0.11:53"), op("udp-connect", "127.0.0.11:53")},
			[]sockResult{{Peer: "127.0.0.11:53", Said: "127.0.0.11:53"}, {From: "127.0.0.11:53", Said: "127.0.0.11:53"},
				{Peer: "127.0.0.11:53", From: "127.0.0.11:53", Said: "127.0.0.11:53"}}, nil},
	}
	// Endpoints whose namespace went away: their publications stay in
	// enet_ports, their enet_endpoints entries do not.
	gone := map[string]netip.Addr{"TCP and UDP to ports whose endpoint is gone": m1.IP}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base.Reuse(t)
			for _, e := range []Endpoint{m1, m2} {
				if gone[tc.name] != e.IP {
					d.PutEndpoint(e)
				}
			}
			c := nodeConfig()
			if !tc.noCookie {
				c.NetnsCookie = node.cookie
			}
			d.SetConfig(c)
			must(t, d.Maps.Ports.PutAll(publications))
			must(t, d.Maps.NodeAddrs.Sync(map[netip.Addr]int{addr("10.10.0.1"): 1}))
			registerDNS(t, d, dns.cookie, dropped.cookie, plain.cookie, resolver)
			ns := node.ns
			if tc.client != nil {
				ns = tc.client.ns
			}
			got := runClient(t, ns, cgroup, tc.ops)
			cookies := make([]uint64, len(got))
			for i := range got {
				cookies[i], got[i].Cookie = got[i].Cookie, 0
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("clients saw\n\t%+v\nwant\n\t%+v", got, tc.want)
			}
			var want []string
			for _, r := range tc.records {
				m := "enet_sock_rev"
				if r.orig == "127.0.0.11:53" {
					m = "enet_dns_rev" // the endpoints' queries have a map of their own
				}
				want = append(want, fmt.Sprintf("%s: cookie %d %d/%s <- %s", m, cookies[r.op], r.proto, r.target, r.orig))
			}
			if recs := sockRecords(t, d); !slices.Equal(recs, sorted(want)) {
				t.Errorf("enet_sock_rev and enet_dns_rev hold\n\t%s\nwant\n\t%s", strings.Join(recs, "\n\t"), strings.Join(sorted(want), "\n\t"))
			}
		})
	}
}

// registerDNS registers the namespace of cookie dns for the resolver,
// registers dropped's and deletes it again, and deletes plain's, which
// was never there.
func registerDNS(t *testing.T, d *Datapath, dns, dropped, plain uint64, resolver netip.Addr) {
	t.Helper()
	m := d.Maps.DNSNetns
	must(t, errors.Join(m.Put(dns, resolver), m.Put(dropped, resolver), m.Delete(dropped), m.Delete(plain)))
	all, err := m.All()
	must(t, err)
	if len(all) != 1 || all[dns] != resolver {
		t.Fatalf("enet_dns_ns holds %v, want only %d -> %s", all, dns, resolver)
	}
}

// sockRecords is every enet_sock_rev and enet_dns_rev entry, sorted, as
// TestSockPrograms writes them.
func sockRecords(t *testing.T, d *Datapath) []string {
	t.Helper()
	var out []string
	for name, m := range map[string]*ebpf.Map{"enet_sock_rev": d.EnetSockRev, "enet_dns_rev": d.EnetDnsRev} {
		var (
			k loader.EnetSockRevKey
			v loader.EnetSockRev
		)
		it := m.Iterate()
		for it.Next(&k, &v) {
			target := netip.AddrPortFrom(netip.AddrFrom4(k.Addr), k.Port)
			orig := netip.AddrPortFrom(netip.AddrFrom4(v.Addr), v.Port)
			out = append(out, fmt.Sprintf("%s: cookie %d %d/%s <- %s", name, k.Cookie, k.Proto, target, orig))
		}
		must(t, it.Err())
	}
	return sorted(out)
}
