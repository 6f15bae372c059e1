package bpftest

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

const dnsAnswered = loader.EnetReasonREASON_DNS_ANSWERED

// The names enet_dns_names holds for the DNS tests: web's "api" (two
// addresses) and "eight" (the most the datapath answers), db's "store".
func putDNSNames(t *testing.T, d *Datapath) {
	t.Helper()
	for n, addrs := range map[maps.DNSName][]string{
		{NetID: web.ID, Name: "api"}:     {"10.10.0.2", "10.10.0.3"},
		{NetID: web.ID, Name: "api.web"}: {"10.10.0.2", "10.10.0.3"},
		{NetID: web.ID, Name: "eight"}:   {"10.10.0.11", "10.10.0.12", "10.10.0.13", "10.10.0.14", "10.10.0.15", "10.10.0.16", "10.10.0.17", "10.10.0.18"},
		{NetID: db.ID, Name: "store"}:    {"10.20.0.2"},
	} {
		var as []netip.Addr
		for _, a := range addrs {
			as = append(as, addr(a))
		}
		must(t, d.Maps.DNSNames.Put(n, as))
	}
}

// putBadDNSNames writes entries the daemon never writes (maps.DNSNames
// refuses them): "empty" with no address, "nine" with a count past the
// array's. The datapath must leave them to the resolver.
func putBadDNSNames(t *testing.T, d *Datapath) {
	t.Helper()
	for name, count := range map[string]uint32{"empty": 0, "nine": 9} {
		k := loader.EnetDnsKey{NetId: web.ID}
		copy(k.Name[:], append([]byte{byte(len(name))}, name...))
		must(t, d.EnetDnsNames.Put(&k, &loader.EnetDnsRrset{Count: count}))
	}
}

// dnsQueryIP is web1's query for "api" with its IPv4 header changed by
// edit.
func dnsQueryIP(t *testing.T, edit func(*layers.IPv4)) []byte {
	t.Helper()
	q := &layers.DNS{ID: 0x1234, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("api"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: web1.IP.AsSlice(), DstIP: addr("10.10.0.1").AsSlice()}
	edit(ip)
	u := &layers.UDP{SrcPort: 40000, DstPort: maps.DNSResolverPort}
	must(t, u.SetNetworkLayerForChecksum(ip))
	return Frame(t, Eth(web1.MAC, web.GatewayMAC, layers.EthernetTypeIPv4), ip, u, q)
}

// dnsQuery is an endpoint's query to dst's resolver port, as a resolver
// library's to 127.0.0.11:53 leaves the endpoint after the socket
// programs, changed by edit first.
func dnsQuery(t *testing.T, from Endpoint, dst string, name string, edit func(*layers.DNS)) []byte {
	t.Helper()
	q := &layers.DNS{ID: 0x1234, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	if edit != nil {
		edit(q)
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Flags: layers.IPv4DontFragment,
		SrcIP: from.IP.AsSlice(), DstIP: addr(dst).AsSlice()}
	u := &layers.UDP{SrcPort: 40000, DstPort: maps.DNSResolverPort}
	must(t, u.SetNetworkLayerForChecksum(ip))
	return Frame(t, Eth(from.MAC, gatewayMAC(from.NetID), layers.EthernetTypeIPv4), ip, u, q)
}

// dnsAnswer reads an answer frame: its layers, and the A records' addresses.
func dnsAnswer(t *testing.T, frame []byte) (*layers.Ethernet, *layers.IPv4, *layers.UDP, *layers.DNS, []string) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	u, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	d := &layers.DNS{} // gopacket takes only port 53 for DNS
	if u == nil || d.DecodeFromBytes(u.Payload, gopacket.NilDecodeFeedback) != nil {
		d = nil
	}
	if eth == nil || ip == nil || u == nil || d == nil {
		t.Fatalf("the answer does not parse: %v\n%x", p.ErrorLayer(), frame)
	}
	var addrs []string
	for _, a := range d.Answers {
		if a.Type != layers.DNSTypeA || a.Class != layers.DNSClassIN || a.TTL != 0 || !bytes.Equal(a.Name, d.Questions[0].Name) {
			t.Errorf("answer record %+v: want A IN, TTL 0, the question's name", a)
		}
		addrs = append(addrs, a.IP.String())
	}
	return eth, ip, u, d, addrs
}

// Issue 13: enet_from_ep answers an endpoint's plain query (one question,
// A, IN, no EDNS0) to its gateway:53 for a name its network holds in
// enet_dns_names, turned around in place and sent back up the veth, the
// addresses taking turns first. Every other query goes on as before, to
// the bridge and the daemon's resolver, unchanged.
func TestDNSAnswer(t *testing.T) {
	base := Load(t)
	d := fromEpWorld(base.Reuse(t))
	putDNSNames(t, d)
	for i, first := range []string{"10.10.0.2", "10.10.0.3", "10.10.0.2"} {
		pkt := dnsQuery(t, web1, "10.10.0.1", "ApI.web", nil)
		r := d.RunTC(d.EnetFromEp, web1.Ifindex, pkt)
		if r.Ret != ActRedirect || len(r.Events) != 1 || r.Events[0].Reason != dnsAnswered || r.Events[0].Target != uint32(web1.Ifindex) {
			t.Fatalf("query %d: return %d, events %+v; want a redirect back to %d", i, r.Ret, r.Events, web1.Ifindex)
		}
		eth, ip, u, ans, addrs := dnsAnswer(t, r.Packet)
		if want := []string{first, other(first)}; !slices.Equal(addrs, want) {
			t.Fatalf("query %d: answers %v, want %v", i, addrs, want)
		}
		if !bytes.Equal(eth.SrcMAC, web.GatewayMAC) || !bytes.Equal(eth.DstMAC, web1.MAC) ||
			ip.SrcIP.String() != "10.10.0.1" || ip.DstIP.String() != web1.IP.String() || u.SrcPort != maps.DNSResolverPort || u.DstPort != 40000 {
			t.Fatalf("query %d: answer %s %s:%d -> %s %s:%d", i, eth.SrcMAC, ip.SrcIP, u.SrcPort, eth.DstMAC, ip.DstIP, u.DstPort)
		}
		if ans.ID != 0x1234 || !ans.QR || !ans.AA || !ans.RD || !ans.RA || ans.TC || ans.ResponseCode != layers.DNSResponseCodeNoErr ||
			len(ans.Questions) != 1 || string(ans.Questions[0].Name) != "ApI.web" {
			t.Fatalf("query %d: answer header %+v", i, ans)
		}
		if int(ip.Length) != len(r.Packet)-14 || int(u.Length) != len(r.Packet)-34 || len(r.Packet) != len(pkt)+2*16 {
			t.Fatalf("query %d: lengths ip %d udp %d frame %d, query %d", i, ip.Length, u.Length, len(r.Packet), len(pkt))
		}
		CheckChecksums(t, r.Packet)
	}
	want := []maps.Counter{{Ifindex: web1.Ifindex, Reason: dnsAnswered, Packets: 3, Bytes: 3 * uint64(len(dnsQuery(t, web1, "10.10.0.1", "ApI.web", nil)))}}
	if got := d.Counters(); !slices.Equal(got, want) {
		t.Fatalf("counters %+v, want %+v", got, want)
	}
	t.Run("the most addresses", func(t *testing.T) {
		r := d.RunTC(d.EnetFromEp, web1.Ifindex, dnsQuery(t, web1, "10.10.0.1", "eight", nil))
		if _, _, _, _, addrs := dnsAnswer(t, r.Packet); r.Ret != ActRedirect || len(addrs) != 8 || addrs[0] != "10.10.0.11" {
			t.Fatalf("return %d, answers %v", r.Ret, addrs)
		}
	})
}

func other(a string) string {
	if a == "10.10.0.2" {
		return "10.10.0.3"
	}
	return "10.10.0.2"
}

// What the datapath leaves to the resolver: it goes to the bridge as
// any packet to the gateway does, unchanged.
func TestDNSPassOn(t *testing.T) {
	base := Load(t)
	raw := func(name []byte) func(*layers.DNS) {
		return func(q *layers.DNS) { q.Questions[0].Name = name }
	}
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"a name the network lacks", dnsQuery(t, web1, "10.10.0.1", "nope", nil)},
		{"a name of another network", dnsQuery(t, web1, "10.10.0.1", "store", nil)},
		{"AAAA", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) { q.Questions[0].Type = layers.DNSTypeAAAA })},
		{"class CH", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) { q.Questions[0].Class = layers.DNSClassCH })},
		{"EDNS0", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) {
			q.Additionals = []layers.DNSResourceRecord{{Type: layers.DNSTypeOPT, Class: 1232}}
		})},
		{"two questions", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) { q.Questions = append(q.Questions, q.Questions[0]) })},
		{"an answer, not a query", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) { q.QR = true })},
		{"opcode status", dnsQuery(t, web1, "10.10.0.1", "api", func(q *layers.DNS) { q.OpCode = layers.DNSOpCodeStatus })},
		{"a name longer than the map's", dnsQuery(t, web1, "10.10.0.1", string(bytes.Repeat([]byte("a."), 64))+"api", nil)},
		{"to the resolver port of another address on the subnet", dnsQuery(t, web1, "10.10.0.9", "api", nil)},
		{"to the gateway's port 53", dnsPort53(t)},
	}
	// Bytes gopacket will not write: a compression pointer as the name,
	// and a question cut short.
	ptr := dnsQuery(t, web1, "10.10.0.1", "api", raw(nil))
	ptr = slices.Concat(ptr[:len(ptr)-5], []byte{0xc0, 0x0c, 0, 1, 0, 1})
	cases = append(cases, struct {
		name string
		pkt  []byte
	}{"a compressed name", fixLengths(ptr)}, struct {
		name string
		pkt  []byte
	}{"a question cut short", fixLengths(dnsQuery(t, web1, "10.10.0.1", "api", nil)[:14+20+8+12+3])})
	opts := dnsQueryIP(t, func(ip *layers.IPv4) {
		ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
	})
	frag := dnsQueryIP(t, func(ip *layers.IPv4) { ip.Flags = layers.IPv4MoreFragments })
	cases = append(cases, struct {
		name string
		pkt  []byte
	}{"IP options", opts}, struct {
		name string
		pkt  []byte
	}{"a first fragment", frag}, struct {
		name string
		pkt  []byte
	}{"a name whose entry has no address", dnsQuery(t, web1, "10.10.0.1", "empty", nil)}, struct {
		name string
		pkt  []byte
	}{"a name whose entry has too many addresses", dnsQuery(t, web1, "10.10.0.1", "nine", nil)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := fromEpWorld(base.Reuse(t))
			putDNSNames(t, d)
			putBadDNSNames(t, d)
			r := d.RunTC(d.EnetFromEp, web1.Ifindex, tc.pkt)
			if r.Ret != ActOK || !bytes.Equal(r.Packet, tc.pkt) {
				t.Fatalf("return %d, packet changed: %v", r.Ret, !bytes.Equal(r.Packet, tc.pkt))
			}
			want := []maps.Counter{{Ifindex: web1.Ifindex, Reason: toBridge, Packets: 1, Bytes: uint64(len(tc.pkt))}}
			if got := d.Counters(); !slices.Equal(got, want) {
				t.Fatalf("counters %+v, want %+v", got, want)
			}
		})
	}
}

// dnsPort53 is a query to the gateway's port 53, where no resolver of
// ebpfnet's listens.
func dnsPort53(t *testing.T) []byte {
	pkt := dnsQuery(t, web1, "10.10.0.1", "api", nil)
	pkt[36], pkt[37] = 0, 53
	return fixLengths(pkt)
}

// fixLengths sets a frame's IPv4 and UDP lengths and IPv4 checksum to
// what it holds, and leaves UDP's out (0).
func fixLengths(frame []byte) []byte {
	f := slices.Clone(frame)
	ipLen, udpLen := len(f)-14, len(f)-34
	f[16], f[17] = byte(ipLen>>8), byte(ipLen)
	f[24], f[25] = 0, 0
	sum := 0xffff - int(onesSum(f[14:34]))
	f[24], f[25] = byte(sum>>8), byte(sum)
	f[38], f[39] = byte(udpLen>>8), byte(udpLen)
	f[40], f[41] = 0, 0
	return f
}
