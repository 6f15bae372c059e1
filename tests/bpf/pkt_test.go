package bpftest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/maps"
)

// TCP flags, as bpf/lib/tuple.h names them.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// pkt is an Ethernet + IPv4 frame as the masquerade tests write it. It is
// serialized fresh by bytes, so a case derives the frame it expects from
// the one it sends by changing fields, and gopacket computes every
// checksum of the expected frame from scratch.
type pkt struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	ttl            uint8
	df, mf         bool
	fragOff        uint16 // bytes, a multiple of 8: with mf, where a fragment's payload starts
	proto          layers.IPProtocol
	sport, dport   uint16 // TCP and UDP
	tcpFlags       uint8
	icmp           layers.ICMPv4TypeCode
	id, seq        uint16 // ICMP: echo identifier and sequence; in "fragmentation needed" seq is the MTU
	noUDPCsum      bool   // a UDP packet sent without checksum (0)
	payload        []byte
	seg            *tcpSeg // TCP sequence numbers, window and options; nil: fixed ones
}

// tcpSeg is what a TCP segment says of its connection.
type tcpSeg struct {
	seq, ack uint32
	win      uint16
	wscale   int // window scale option offered; -1: none
}

// out is a packet an endpoint sends beyond its subnet: to its gateway's MAC.
func out(e Endpoint, dst netip.Addr) pkt {
	return pkt{srcMAC: e.MAC, dstMAC: nodeGatewayMAC(e), src: e.IP, dst: dst, ttl: 64}
}

// in is a packet arriving on the uplink from the router.
func in(src, dst netip.Addr) pkt {
	return pkt{srcMAC: routerMAC, dstMAC: uplinkMAC, src: src, dst: dst, ttl: 64}
}

// host is a packet the node itself sends out of the uplink.
func host(dst netip.Addr) pkt {
	return pkt{srcMAC: uplinkMAC, dstMAC: routerMAC, src: snatIP, dst: dst, ttl: 64}
}

func nodeGatewayMAC(e Endpoint) net.HardwareAddr { return networkOf(e).GatewayMAC }

func networkOf(e Endpoint) maps.Network {
	for _, n := range nodeNetworks {
		if n.ID == e.NetID {
			return n
		}
	}
	panic("endpoint of no network")
}

func (p pkt) udp(sport, dport uint16) pkt {
	p.proto, p.sport, p.dport, p.payload = layers.IPProtocolUDP, sport, dport, []byte("ebpfnet")
	return p
}

func (p pkt) tcp(sport, dport uint16, flags uint8) pkt {
	p.proto, p.sport, p.dport, p.tcpFlags, p.df = layers.IPProtocolTCP, sport, dport, flags, true
	return p
}

func (p pkt) echo(id uint16) pkt {
	p.proto, p.icmp, p.id, p.seq = layers.IPProtocolICMPv4, layers.CreateICMPv4TypeCode(8, 0), id, 1
	p.payload = []byte("ebpfnet ping")
	return p
}

func (p pkt) echoReply(id uint16) pkt {
	p = p.echo(id)
	p.icmp = layers.CreateICMPv4TypeCode(0, 0)
	return p
}

// query is an ICMP query of type typ (13 timestamp, 15 information, 17
// address mask, or their replies) with identifier id.
func (p pkt) query(typ uint8, id uint16) pkt {
	p = p.echo(id)
	p.icmp = layers.CreateICMPv4TypeCode(typ, 0)
	p.payload = make([]byte, 12) // a timestamp request's three timestamps
	return p
}

// icmpReplyTypes are the ICMP queries' replies: echo, timestamp,
// information and address mask.
var icmpReplyTypes = map[uint8]bool{0: true, 14: true, 16: true, 18: true}

// raw is a packet of a protocol the tests build no header for: GRE, ESP,
// IP protocol 253; its payload follows the IPv4 header as it is.
func (p pkt) raw(proto layers.IPProtocol, payload []byte) pkt {
	p.proto, p.payload = proto, payload
	return p
}

// ports is a packet of a protocol with ports that gopacket does not
// serialize (UDP-Lite, DCCP, SCTP), built by l4Ports.
func (p pkt) ports(proto layers.IPProtocol, sport, dport uint16) pkt {
	p.proto, p.sport, p.dport, p.payload = proto, sport, dport, []byte("ebpfnet")
	return p
}

// icmpError is an ICMP error carrying quoted, the start of the packet it
// is about.
func (p pkt) icmpError(typ, code uint8, mtu uint16, quoted []byte) pkt {
	p.proto, p.icmp, p.id, p.seq = layers.IPProtocolICMPv4, layers.CreateICMPv4TypeCode(typ, code), 0, mtu
	p.payload = quoted
	return p
}

func (p pkt) with(f func(*pkt)) pkt {
	f(&p)
	return p
}

// withSport sets the source port, or a request's echo identifier.
func (p pkt) withSport(port uint16) pkt {
	if p.proto == layers.IPProtocolICMPv4 {
		p.id = port
	} else {
		p.sport = port
	}
	return p
}

// withDport sets the destination port, or a reply's echo identifier.
func (p pkt) withDport(port uint16) pkt {
	if p.proto == layers.IPProtocolICMPv4 {
		p.id = port
	} else {
		p.dport = port
	}
	return p
}

// masqueraded is p as the uplink sends it: from the node's address and
// port, routed one hop, with the MACs the FIB gave.
func (p pkt) masqueraded(port uint16) pkt {
	p = p.routed()
	p.src = snatIP
	return p.withSport(port)
}

// routed is p forwarded untranslated out of the uplink.
func (p pkt) routed() pkt {
	p.srcMAC, p.dstMAC = uplinkMAC, routerMAC
	p.ttl--
	return p
}

// delivered is p as it reaches e's eth0: from its gateway's MAC, routed one
// hop, to its address and port.
func (p pkt) delivered(e Endpoint, port uint16) pkt {
	p.srcMAC, p.dstMAC = nodeGatewayMAC(e), e.MAC
	p.dst = e.IP
	p.ttl--
	return p.withDport(port)
}

// reply is the far end's answer to p, a packet that left the uplink, as it
// arrives back.
func (p pkt) reply() pkt {
	r := in(p.dst, p.src)
	switch p.proto {
	case layers.IPProtocolTCP:
		return r.tcp(p.dport, p.sport, tcpSYN|tcpACK)
	case layers.IPProtocolUDP:
		return r.udp(p.dport, p.sport)
	case layers.IPProtocolICMPv4:
		if typ := p.icmp.Type(); typ != layers.ICMPv4TypeEchoRequest {
			return r.query(typ+1, p.id)
		}
		return r.echoReply(p.id)
	case ipProtoUDPLite, ipProtoDCCP, layers.IPProtocolSCTP:
		return r.ports(p.proto, p.dport, p.sport)
	}
	return r.raw(p.proto, p.payload)
}

// sourcePort is the TCP or UDP source port, or the ICMP echo identifier,
// of an Ethernet + IPv4 frame.
func sourcePort(frame []byte) uint16 {
	ip := frame[14:]
	l4 := ip[int(ip[0]&0xf)*4:]
	if ip[9] == uint8(layers.IPProtocolICMPv4) {
		return binary.BigEndian.Uint16(l4[4:])
	}
	return binary.BigEndian.Uint16(l4)
}

// tuple is p's flow tuple as the datapath reads it.
func (p pkt) tuple() maps.Tuple {
	sport, dport := p.sport, p.dport
	if p.proto == layers.IPProtocolICMPv4 {
		sport, dport = p.id, 0
		if icmpReplyTypes[p.icmp.Type()] {
			sport, dport = 0, p.id
		}
	}
	return maps.Tuple{
		Proto: uint8(p.proto),
		Src:   netip.AddrPortFrom(p.src, sport),
		Dst:   netip.AddrPortFrom(p.dst, dport),
	}
}

// ip is the IPv4 packet, without Ethernet.
func (p pkt) ip(t testing.TB) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version: 4, TTL: p.ttl, Protocol: p.proto, Id: 0x4e45,
		SrcIP: p.src.AsSlice(), DstIP: p.dst.AsSlice(),
	}
	if p.df {
		ip.Flags |= layers.IPv4DontFragment
	}
	if p.mf {
		ip.Flags |= layers.IPv4MoreFragments
	}
	ip.FragOffset = p.fragOff / 8
	ls := []gopacket.SerializableLayer{ip}
	switch p.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{
			SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: 1000, Ack: 2000, Window: 64240,
			FIN: p.tcpFlags&tcpFIN != 0, SYN: p.tcpFlags&tcpSYN != 0, RST: p.tcpFlags&tcpRST != 0, ACK: p.tcpFlags&tcpACK != 0,
		}
		if s := p.seg; s != nil {
			tcp.Seq, tcp.Ack, tcp.Window = s.seq, s.ack, s.win
			if s.wscale >= 0 {
				// As Linux sends them, the shift last.
				tcp.Options = []layers.TCPOption{
					{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
					{OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2},
					{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
					{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(s.wscale)}},
				}
			}
		}
		must(t, tcp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
		must(t, udp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: p.icmp, Id: p.id, Seq: p.seq})
	case ipProtoUDPLite, ipProtoDCCP, layers.IPProtocolSCTP:
		b := Frame(t, ip, gopacket.Payload(l4Ports(p)))
		return b
	}
	b := Frame(t, append(ls, gopacket.Payload(p.payload))...)
	if p.noUDPCsum {
		b[20+6], b[20+7] = 0, 0
	}
	return b
}

// bytes is the whole frame.
func (p pkt) bytes(t testing.TB) []byte {
	t.Helper()
	return Frame(t, Eth(p.srcMAC, p.dstMAC, layers.EthernetTypeIPv4), gopacket.Payload(p.ip(t)))
}

// quote is what an ICMP error carries of p: its first n bytes.
func quote(t testing.TB, p pkt, n int) []byte {
	t.Helper()
	return p.ip(t)[:n]
}

// requote is quote(now) with the L4 checksum orig had, which the datapath
// leaves as it was when it translates a quoted packet.
func requote(t testing.TB, orig, now pkt, n int) []byte {
	t.Helper()
	b, o := quote(t, now, n), orig.ip(t)
	off := 20 + 6
	if orig.proto == layers.IPProtocolTCP {
		off = 20 + 16
	}
	if off+2 <= n {
		copy(b[off:off+2], o[off:off+2])
	}
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
