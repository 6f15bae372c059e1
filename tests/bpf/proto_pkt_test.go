package bpftest

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// IP protocols the tests build by hand: gopacket serializes neither.
const (
	ipProtoDCCP    = layers.IPProtocol(33)
	ipProtoUDPLite = layers.IPProtocolUDPLite
	ipProto253     = layers.IPProtocol(253) // for experiments (RFC 3692)
)

// l4Ports is the L4 header and payload of p, a UDP-Lite, DCCP or SCTP
// packet, with its checksum: UDP-Lite with coverage 0 (all of it), DCCP
// with the 12-byte generic header of short sequence numbers, both summed
// over the pseudo header; SCTP's common header, its payload standing for
// the chunks, with the CRC32c.
func l4Ports(p pkt) []byte {
	n := 12
	if p.proto == ipProtoUDPLite {
		n = 8
	}
	b := append(make([]byte, n), p.payload...)
	binary.BigEndian.PutUint16(b[0:], p.sport)
	binary.BigEndian.PutUint16(b[2:], p.dport)
	switch p.proto {
	case layers.IPProtocolSCTP:
		binary.BigEndian.PutUint32(b[4:], 0x0e0b0f0e) // the verification tag
		binary.LittleEndian.PutUint32(b[8:], SCTPChecksum(b))
		return b
	case ipProtoDCCP:
		b[4] = 3      // data offset: 3 words of header
		b[8] = 2 << 1 // type DATA, X 0: 24-bit sequence numbers
	}
	binary.BigEndian.PutUint16(b[6:], ^onesSum(append(pseudoHeader(addrs(p.src, p.dst), uint8(p.proto), len(b)), b...)))
	return b
}

func addrs(src, dst netip.Addr) []byte {
	s, d := src.As4(), dst.As4()
	return append(s[:], d[:]...)
}
