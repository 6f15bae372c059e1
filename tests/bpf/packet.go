package bpftest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Frame serializes ls into one packet, fixing lengths and checksums.
func Frame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize packet: %v", err)
	}
	return buf.Bytes()
}

// Eth is an Ethernet header.
func Eth(src, dst net.HardwareAddr, typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: typ}
}

// UDPv4 is an Ethernet + IPv4 + UDP frame with a small payload.
func UDPv4(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr) []byte {
	t.Helper()
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice(),
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatalf("udp checksum: %v", err)
	}
	return Frame(t, Eth(srcMAC, dstMAC, layers.EthernetTypeIPv4), ip, udp, gopacket.Payload("ebpfnet"))
}

// ARPv4 is a broadcast ARP request for tpa sent from ethSrc, announcing
// sha and spa as its sender.
func ARPv4(t testing.TB, ethSrc, sha net.HardwareAddr, spa, tpa netip.Addr) []byte {
	t.Helper()
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		Operation:       layers.ARPRequest,
		SourceHwAddress: sha, SourceProtAddress: spa.AsSlice(),
		DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: tpa.AsSlice(),
	}
	return Frame(t, Eth(ethSrc, Broadcast, layers.EthernetTypeARP), arp)
}

// Ethernet parses the Ethernet header of pkt.
func Ethernet(t testing.TB, pkt []byte) *layers.Ethernet {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.NoCopy)
	eth, ok := p.LinkLayer().(*layers.Ethernet)
	if !ok {
		t.Fatalf("no Ethernet header in %x", pkt)
	}
	return eth
}

// Patch returns a copy of pkt with b written at off, for headers no
// well-formed builder would produce.
func Patch(pkt []byte, off int, b ...byte) []byte {
	out := append([]byte(nil), pkt...)
	copy(out[off:], b)
	return out
}

// CheckChecksums fails the test unless every checksum of the Ethernet +
// IPv4 frame verifies from scratch: the IP header's; TCP's, UDP's,
// UDP-Lite's and DCCP's over their pseudo header (a UDP checksum of 0
// means none and is left alone); SCTP's CRC32c; ICMP's; and for an ICMP
// error the IP header of the packet it carries. The
// L4 checksum inside an ICMP error is not checked: receivers ignore it and
// the datapath does not keep it right.
func CheckChecksums(t testing.TB, frame []byte) {
	t.Helper()
	for _, e := range checksumErrors(frame) {
		t.Errorf("%s in %x", e, frame)
	}
}

func checksumErrors(frame []byte) []string {
	ip, ok := ipv4Packet(frame[min(len(frame), 14):])
	if !ok {
		return []string{"no whole IPv4 packet"}
	}
	var errs []string
	ihl := int(ip[0]&0xf) * 4
	if onesSum(ip[:ihl]) != 0xffff {
		errs = append(errs, "wrong IPv4 header checksum")
	}
	l4, proto := ip[ihl:], ip[9]
	switch {
	case proto == 17 && len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0:
	case proto == 6 || proto == 17 || proto == 136 || proto == 33: // TCP, UDP, UDP-Lite, DCCP
		if onesSum(append(pseudoHeader(ip[12:20], proto, len(l4)), l4...)) != 0xffff {
			errs = append(errs, fmt.Sprintf("wrong checksum of protocol %d", proto))
		}
	case proto == 132 && len(l4) >= 12: // SCTP
		if binary.LittleEndian.Uint32(l4[8:]) != SCTPChecksum(l4) {
			errs = append(errs, "wrong SCTP checksum")
		}
	case proto == 1:
		if onesSum(l4) != 0xffff {
			errs = append(errs, "wrong ICMP checksum")
		}
		if len(l4) > 8 && (l4[0] == 3 || l4[0] == 11 || l4[0] == 12) {
			inner := l4[8:]
			if len(inner) < 20 || len(inner) < int(inner[0]&0xf)*4 || onesSum(inner[:int(inner[0]&0xf)*4]) != 0xffff {
				errs = append(errs, "wrong inner IPv4 header checksum")
			}
		}
	}
	return errs
}

// pseudoHeader is what TCP, UDP, UDP-Lite and DCCP sum before their own
// header: the addresses (12 bytes of an IPv4 header from saddr on), the
// protocol and the L4 length.
func pseudoHeader(addrs []byte, proto uint8, l4len int) []byte {
	return append(append([]byte(nil), addrs...), 0, proto, byte(l4len>>8), byte(l4len))
}

// SCTPChecksum is the CRC32c of an SCTP packet with its checksum field
// taken as zero (RFC 9260, appendix A), which SCTP stores little-endian.
func SCTPChecksum(sctp []byte) uint32 {
	b := append([]byte(nil), sctp...)
	copy(b[8:12], []byte{0, 0, 0, 0})
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// ipv4Packet cuts b to the IPv4 packet's total length.
func ipv4Packet(b []byte) ([]byte, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || int(b[0]&0xf)*4 < 20 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < int(b[0]&0xf)*4 || n > len(b) {
		return nil, false
	}
	return b[:n], true
}

// onesSum is the Internet checksum's one's complement sum (RFC 1071): over
// data whose checksum is right it is 0xffff.
func onesSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
