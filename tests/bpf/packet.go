package bpftest

import (
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
