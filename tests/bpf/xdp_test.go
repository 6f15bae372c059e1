package bpftest

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/ebpfnet/ebpfnet/maps"
)

const (
	xdpDrop = 1 // XDP_DROP
	xdpPass = 2 // XDP_PASS
)

// Issue 14: every branch of enet_xdp_up. BPF_PROG_RUN runs an XDP
// program as if on lo (ifindex 1): its drops are counted there.
func TestXDPUplink(t *testing.T) {
	base := Load(t)
	outside := addr("203.0.113.5")
	valid := func(src netip.Addr) []byte { return UDPv4(t, routerMAC, uplinkMAC, src, snatIP) }
	ipv6 := Frame(t, &layers.Ethernet{SrcMAC: routerMAC, DstMAC: uplinkMAC, EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: layers.IPProtocolNoNextHeader, HopLimit: 64,
			SrcIP: addr("2001:db8::1").AsSlice(), DstIP: addr("2001:db8::2").AsSlice()})
	edit := func(off int, f func(b []byte)) []byte { b := valid(outside); f(b[off:]); return b }
	cases := []struct {
		name   string
		prefix string // in the prefilter, if any
		pkt    []byte
		ret    uint32
		reason string // counted at ifindex 0; "" for none
	}{
		{"ARP passes", "", ARPv4(t, routerMAC, routerMAC, addr("198.51.100.254"), snatIP), xdpPass, ""},
		{"IPv6 passes", "", ipv6, xdpPass, ""},
		{"a packet from outside passes", "", valid(outside), xdpPass, ""},
		{"Ethernet padding after the datagram passes", "", append(valid(outside), 0, 0, 0, 0), xdpPass, ""},
		// A frame under 14 bytes the kernel refuses to run a program on
		// (EINVAL), as drivers drop them: that branch of xdp_up only
		// guards the verifier.
		{"an Ethernet header and no IPv4 header", "", valid(outside)[:14], xdpDrop, "drop-malformed-xdp"},
		{"an IPv4 header cut short", "", valid(outside)[:14+12], xdpDrop, "drop-malformed-xdp"},
		{"IHL under 5", "", edit(14, func(b []byte) { b[0] = 0x44 }), xdpDrop, "drop-malformed-xdp"},
		{"version 6 in an IPv4 frame", "", edit(14, func(b []byte) { b[0] = 0x65 }), xdpDrop, "drop-malformed-xdp"},
		{"total length past the frame", "", edit(14, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 1400) }), xdpDrop, "drop-malformed-xdp"},
		{"total length under the header", "", edit(14, func(b []byte) { binary.BigEndian.PutUint16(b[2:], 12) }), xdpDrop, "drop-malformed-xdp"},
		{"a prefiltered source", "203.0.113.0/24", valid(outside), xdpDrop, "drop-prefilter"},
		{"a /32 prefix", "203.0.113.5/32", valid(outside), xdpDrop, "drop-prefilter"},
		{"a source beside the prefix passes", "203.0.113.0/25", valid(addr("203.0.113.200")), xdpPass, ""},
		{"a source inside an endpoint subnet", "", valid(addr("10.10.0.9")), xdpDrop, "drop-spoofed-outside"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := base.Reuse(t)
			d.PutNetwork(web)
			if tc.prefix != "" {
				if _, err := d.Maps.Prefilter.Add(netip.MustParsePrefix(tc.prefix)); err != nil {
					t.Fatal(err)
				}
			}
			r, err := d.Run(d.EnetXdpUp, tc.pkt, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ret != tc.ret {
				t.Errorf("returned %d, want %d", r.Ret, tc.ret)
			}
			var counted []string
			for _, c := range d.Counters() {
				counted = append(counted, maps.ReasonName(c.Reason))
				if c.Packets != 1 || c.Bytes != uint64(len(tc.pkt)) || c.Ifindex != 1 {
					t.Errorf("counter %+v, want one packet of %d bytes", c, len(tc.pkt))
				}
			}
			if want := []string{tc.reason}; tc.reason == "" && len(counted) != 0 || tc.reason != "" && (len(counted) != 1 || counted[0] != want[0]) {
				t.Errorf("counted %v, want %q", counted, tc.reason)
			}
			if tc.prefix == "" {
				return
			}
			all, err := d.Maps.Prefilter.All()
			if err != nil || len(all) != 1 {
				t.Fatalf("prefilter %+v %v", all, err)
			}
			if got, want := all[0].Packets, uint64(tc.ret&1); got != want || tc.ret == xdpDrop && all[0].Bytes != uint64(len(tc.pkt)) {
				t.Errorf("prefix %s counted %+v", tc.prefix, all[0])
			}
		})
	}
}
