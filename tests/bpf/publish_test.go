package bpftest

import (
	"net/netip"

	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The node's published ports in the DNAT tests, as `ebpfnet publish`
// writes them.
var (
	nodeIP2  = addr("198.51.100.2") // another address of the node's
	loopback = addr("127.0.0.1")
	goneIP   = addr("10.10.0.99") // an endpoint removed behind the daemon's back

	tcpProto, udpProto = uint8(layers.IPProtocolTCP), uint8(layers.IPProtocolUDP)

	publications = []maps.Port{
		{Proto: tcpProto, HostPort: 8080, Target: netip.AddrPortFrom(m1.IP, 80)},
		{Proto: tcpProto, HostPort: 8082, Target: netip.AddrPortFrom(m1.IP, 80)}, // docker -p 8080:80 -p 8082:80
		{Proto: udpProto, HostPort: 5353, Target: netip.AddrPortFrom(m1.IP, 53)},
		{Proto: tcpProto, HostIP: snatIP, HostPort: 8081, Target: netip.AddrPortFrom(m2.IP, 81)},
		{Proto: tcpProto, HostIP: nodeIP2, HostPort: 8443, Target: netip.AddrPortFrom(m2.IP, 443)},
		{Proto: tcpProto, HostIP: loopback, HostPort: 9090, Target: netip.AddrPortFrom(m2.IP, 80)},
		{Proto: tcpProto, HostPort: 7070, Target: netip.AddrPortFrom(goneIP, 80)},
		{Proto: tcpProto, HostPort: 8084, Target: netip.AddrPortFrom(m3.IP, 80)},
	}
)

const (
	fwdDNAT    = loader.EnetReasonREASON_FWD_DNAT
	fwdHairpin = loader.EnetReasonREASON_FWD_HAIRPIN
)

// replyOut: an endpoint's packet of a translated flow, out of the uplink.
var replyOut = verdict{ActRedirect, fwdReply, uplinkIdx}

func dnatTo(e Endpoint) verdict    { return verdict{ActRedirect, fwdDNAT, e.Ifindex} }
func hairpinTo(e Endpoint) verdict { return verdict{ActRedirect, fwdHairpin, e.Ifindex} }

// publish writes the publications.
func (n *node) publish() {
	n.t.Helper()
	must(n.t, n.Maps.Ports.PutAll(publications))
}

// dnatFlow is the flow of p, a packet from the uplink to a published
// port, delivered to e's port.
func dnatFlow(e Endpoint, p pkt, port uint16) flow {
	return flow{orig: p.tuple(), to: p.delivered(e, port).tuple(), ifindex: e.Ifindex, kind: loader.EnetCtFlagCT_F_DNAT}
}

// dnatFlowFrom is dnatFlow for a flow whose client port the endpoint sees
// as sport: the reply tuple of the client's own was taken.
func dnatFlowFrom(e Endpoint, p pkt, sport, port uint16) flow {
	f := dnatFlow(e, p, port)
	f.to = p.delivered(e, port).from(p.src, sport).tuple()
	return f
}

// hairpinFlow is the flow of p, an endpoint's packet to a published port,
// delivered to e's port from e's gateway and sport.
func hairpinFlow(e Endpoint, p pkt, sport, port uint16) flow {
	return flow{
		orig: p.tuple(), to: p.hairpinned(e, sport, port).tuple(), ifindex: e.Ifindex,
		kind: loader.EnetCtFlagCT_F_DNAT | loader.EnetCtFlagCT_F_SNAT,
	}
}

// hairpinned is p as it reaches e's eth0 through a hairpin: from e's
// gateway and sport.
func (p pkt) hairpinned(e Endpoint, sport, port uint16) pkt {
	return p.delivered(e, port).from(networkOf(e).Gateway, sport)
}

// from is p with another source address and port.
func (p pkt) from(a netip.Addr, port uint16) pkt {
	p.src = a
	return p.withSport(port)
}

// to is p with another destination address and port.
func (p pkt) to(a netip.Addr, port uint16) pkt {
	p.dst = a
	return p.withDport(port)
}
