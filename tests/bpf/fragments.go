package bpftest

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Fragments cuts the IPv4 packet of an Ethernet frame into fragments
// carrying at most size bytes of its payload each (a multiple of 8), in
// order, as the kernel's ip_do_fragment does: each a whole frame with the
// packet's MACs and IP header, its offset and MF set, its header checksum
// recomputed.
func Fragments(t testing.TB, frame []byte, size int) [][]byte {
	t.Helper()
	ip, ok := ipv4Packet(frame[min(len(frame), 14):])
	if !ok || size%8 != 0 {
		t.Fatalf("cannot fragment %x by %d", frame, size)
	}
	ihl := int(ip[0]&0xf) * 4
	hdr, data := ip[:ihl], ip[ihl:]
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		h := slices.Clone(hdr)
		binary.BigEndian.PutUint16(h[2:], uint16(ihl+end-off))
		fo := uint16(off / 8)
		if end < len(data) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		setIPChecksum(h)
		eth := layers.Ethernet{}
		if err := eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("decode Ethernet header: %v", err)
		}
		out = append(out, Frame(t, Eth(eth.SrcMAC, eth.DstMAC, layers.EthernetTypeIPv4), gopacket.Payload(append(h, data[off:end]...))))
	}
	return out
}

// Reassemble joins the fragments of one datagram, in any order, into the
// frame it was cut from (the MACs and the IP header but its fragment
// fields are the first fragment's), or fails the test when they do not
// cover it exactly or disagree on its IP id.
func Reassemble(t testing.TB, frags [][]byte) []byte {
	t.Helper()
	type piece struct {
		off  int
		more bool
		ip   []byte
	}
	var ps []piece
	for _, f := range frags {
		ip, ok := ipv4Packet(f[min(len(f), 14):])
		if !ok {
			t.Fatalf("no IPv4 packet in %x", f)
		}
		fo := binary.BigEndian.Uint16(ip[6:])
		ps = append(ps, piece{int(fo&0x1fff) * 8, fo&0x2000 != 0, ip})
	}
	slices.SortFunc(ps, func(a, b piece) int { return a.off - b.off })
	var data []byte
	for i, p := range ps {
		ihl := int(p.ip[0]&0xf) * 4
		if p.off != len(data) || (p.more != (i < len(ps)-1)) || !slices.Equal(p.ip[4:6], ps[0].ip[4:6]) {
			t.Fatalf("fragments do not make one datagram: offset %d after %d bytes, more %v, %d of %d",
				p.off, len(data), p.more, i, len(ps))
		}
		data = append(data, p.ip[ihl:]...)
	}
	first := ps[0].ip
	ihl := int(first[0]&0xf) * 4
	h := slices.Clone(first[:ihl])
	binary.BigEndian.PutUint16(h[2:], uint16(ihl+len(data)))
	binary.BigEndian.PutUint16(h[6:], binary.BigEndian.Uint16(h[6:])&0x4000)
	setIPChecksum(h)
	var firstFrame []byte
	for _, f := range frags {
		if binary.BigEndian.Uint16(f[14+6:])&0x1fff == 0 {
			firstFrame = f
		}
	}
	return append(append(slices.Clone(firstFrame[:14]), h...), data...)
}

// CheckIPHeader fails the test unless the frame's IPv4 header checksum
// verifies: all a later fragment has to check.
func CheckIPHeader(t testing.TB, frame []byte) {
	t.Helper()
	ip, ok := ipv4Packet(frame[min(len(frame), 14):])
	if !ok || onesSum(ip[:int(ip[0]&0xf)*4]) != 0xffff {
		t.Errorf("wrong IPv4 header checksum in %x", frame)
	}
}

func setIPChecksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], ^onesSum(h))
}
