package bpftest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
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
// the socket the address it was given, and only that socket. Sockets in
// other namespaces, other protocols and other ports are left alone, and
// every call is allowed.
func TestSockPrograms(t *testing.T) {
	base := Load(t)
	cgroup := clientCgroup(t, base)
	node := newSockNetns(t,
		[]string{"198.51.100.1/32", "198.51.100.2/32", "10.10.0.1/32", "10.10.0.2/32", "10.10.0.3/32"},
		[]string{"10.10.0.2:80", "10.10.0.3:80", "10.10.0.3:81", "10.10.0.3:443",
			"0.0.0.0:8080", "0.0.0.0:8081", "0.0.0.0:9090", "0.0.0.0:8443", "0.0.0.0:7777"},
		[]string{"10.10.0.2:53", "127.0.0.1:5353", "198.51.100.1:5353", "127.0.0.1:8080"})
	elsewhere := newSockNetns(t, nil, []string{"0.0.0.0:8080"}, []string{"127.0.0.1:5353"})
	op := func(kind, addr string) sockOp { return sockOp{kind, addr} }
	cases := []struct {
		name      string
		elsewhere bool // the client runs in the other netns
		noCookie  bool // enet_config has no netns cookie
		ops       []sockOp
		want      []sockResult // cookies left out
		records   []sockRecord
	}{
		{"TCP to 127.0.0.1", false, false, []sockOp{op("tcp", "127.0.0.1:8080")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "127.0.0.1:8080"}}},
		{"TCP to another loopback address", false, false, []sockOp{op("tcp", "127.0.0.5:8080")},
			[]sockResult{{Peer: "127.0.0.5:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "127.0.0.5:8080"}}},
		{"TCP to the uplink address", false, false, []sockOp{op("tcp", "198.51.100.1:8080")},
			[]sockResult{{Peer: "198.51.100.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "198.51.100.1:8080"}}},
		{"TCP to an address enet_node_addrs lacks", false, false, []sockOp{op("tcp", "198.51.100.2:8080")},
			[]sockResult{{Peer: "198.51.100.2:8080", Said: "198.51.100.2:8080"}}, nil},
		{"TCP to another address of the node", false, false, []sockOp{op("tcp", "10.10.0.1:8080")},
			[]sockResult{{Peer: "10.10.0.1:8080", Said: "10.10.0.2:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.2:80", "10.10.0.1:8080"}}},
		{"UDP to another address of the node", false, false, []sockOp{op("udp", "10.10.0.1:5353")},
			[]sockResult{{From: "10.10.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "10.10.0.1:5353"}}},
		{"TCP to another address of the node, published on one host address", false, false,
			[]sockOp{op("tcp", "10.10.0.1:8443")}, []sockResult{{Peer: "10.10.0.1:8443", Said: "10.10.0.1:8443"}}, nil},
		{"TCP to a port published on 127.0.0.1", false, false, []sockOp{op("tcp", "127.0.0.1:9090")},
			[]sockResult{{Peer: "127.0.0.1:9090", Said: "10.10.0.3:80"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:80", "127.0.0.1:9090"}}},
		{"TCP to the uplink address, published on 127.0.0.1", false, false, []sockOp{op("tcp", "198.51.100.1:9090")},
			[]sockResult{{Peer: "198.51.100.1:9090", Said: "198.51.100.1:9090"}}, nil},
		{"TCP to a port published on one host address", false, false, []sockOp{op("tcp", "198.51.100.2:8443")},
			[]sockResult{{Peer: "198.51.100.2:8443", Said: "10.10.0.3:443"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:443", "198.51.100.2:8443"}}},
		{"TCP to a port published on the uplink address", false, false, []sockOp{op("tcp", "198.51.100.1:8081")},
			[]sockResult{{Peer: "198.51.100.1:8081", Said: "10.10.0.3:81"}},
			[]sockRecord{{0, tcpProto, "10.10.0.3:81", "198.51.100.1:8081"}}},
		{"TCP to 127.0.0.1, published on one host address", false, false, []sockOp{op("tcp", "127.0.0.1:8443")},
			[]sockResult{{Peer: "127.0.0.1:8443", Said: "127.0.0.1:8443"}}, nil},
		{"TCP to an unpublished port", false, false, []sockOp{op("tcp", "127.0.0.1:7777")},
			[]sockResult{{Peer: "127.0.0.1:7777", Said: "127.0.0.1:7777"}}, nil},
		{"UDP sendto and recvfrom", false, false, []sockOp{op("udp", "127.0.0.1:5353")},
			[]sockResult{{From: "127.0.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}}},
		{"UDP to the uplink address", false, false, []sockOp{op("udp", "198.51.100.1:5353")},
			[]sockResult{{From: "198.51.100.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "198.51.100.1:5353"}}},
		{"connected UDP", false, false, []sockOp{op("udp-connect", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:5353", From: "127.0.0.1:5353", Said: "10.10.0.2:53"}},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}}},
		{"UDP to a port published for TCP", false, false, []sockOp{op("udp", "127.0.0.1:8080")},
			[]sockResult{{From: "127.0.0.1:8080", Said: "127.0.0.1:8080"}}, nil},
		{"ping socket to a port published for UDP", false, false, []sockOp{op("ping", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:5353", From: "127.0.0.1:0"}}, nil},
		{"another socket to the endpoint itself", false, false,
			[]sockOp{op("udp", "127.0.0.1:5353"), op("udp", "10.10.0.2:53"), op("tcp", "127.0.0.1:8080"), op("tcp", "10.10.0.2:80")},
			[]sockResult{
				{From: "127.0.0.1:5353", Said: "10.10.0.2:53"}, {From: "10.10.0.2:53", Said: "10.10.0.2:53"},
				{Peer: "127.0.0.1:8080", Said: "10.10.0.2:80"}, {Peer: "10.10.0.2:80", Said: "10.10.0.2:80"},
			},
			[]sockRecord{{0, udpProto, "10.10.0.2:53", "127.0.0.1:5353"}, {2, tcpProto, "10.10.0.2:80", "127.0.0.1:8080"}}},
		{"no netns cookie configured", false, true,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"}}, nil},
		{"TCP and UDP to ports whose endpoint is gone", false, false,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353"), op("tcp", "127.0.0.1:9090")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"},
				{Peer: "127.0.0.1:9090", Said: "10.10.0.3:80"}},
			[]sockRecord{{2, tcpProto, "10.10.0.3:80", "127.0.0.1:9090"}}},
		{"another netns", true, false,
			[]sockOp{op("tcp", "127.0.0.1:8080"), op("udp", "127.0.0.1:5353")},
			[]sockResult{{Peer: "127.0.0.1:8080", Said: "127.0.0.1:8080"}, {From: "127.0.0.1:5353", Said: "127.0.0.1:5353"}}, nil},
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
			ns := node.ns
			if tc.elsewhere {
				ns = elsewhere.ns
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
				want = append(want, fmt.Sprintf("cookie %d %d/%s <- %s", cookies[r.op], r.proto, r.target, r.orig))
			}
			if recs := sockRecords(t, d); !slices.Equal(recs, sorted(want)) {
				t.Errorf("enet_sock_rev holds\n\t%s\nwant\n\t%s", strings.Join(recs, "\n\t"), strings.Join(sorted(want), "\n\t"))
			}
		})
	}
}

// sockRecords is every enet_sock_rev entry, sorted, as TestSockPrograms
// writes them.
func sockRecords(t *testing.T, d *Datapath) []string {
	t.Helper()
	var (
		k   loader.EnetSockRevKey
		v   loader.EnetSockRev
		out []string
	)
	it := d.EnetSockRev.Iterate()
	for it.Next(&k, &v) {
		target := netip.AddrPortFrom(netip.AddrFrom4(k.Addr), k.Port)
		orig := netip.AddrPortFrom(netip.AddrFrom4(v.Addr), v.Port)
		out = append(out, fmt.Sprintf("cookie %d %d/%s <- %s", k.Cookie, k.Proto, target, orig))
	}
	must(t, it.Err())
	return sorted(out)
}
