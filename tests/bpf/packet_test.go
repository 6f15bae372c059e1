package bpftest

import (
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestChecksumErrors: the checksum check the masquerade tests rely on
// finds a wrong checksum in every place it looks.
func TestChecksumErrors(t *testing.T) {
	udp := out(m1, remote).udp(40000, 53)
	syn := out(m1, remote).tcp(40000, 80, tcpSYN)
	ping := out(m1, remote).echo(7)
	unreach := in(remote, snatIP).icmpError(3, 3, 0, quote(t, udp.masqueraded(40000), 28))
	lite := out(m1, remote).ports(ipProtoUDPLite, 40000, 53)
	dccp := out(m1, remote).ports(ipProtoDCCP, 40000, 5004)
	sctp := out(m1, remote).ports(layers.IPProtocolSCTP, 9000, 9000)
	const ip, l4 = 14, 14 + 20
	cases := []struct {
		name  string
		frame []byte
		want  []string
	}{
		{"UDP", udp.bytes(t), nil},
		{"UDP without checksum", udp.with(func(p *pkt) { p.noUDPCsum = true }).bytes(t), nil},
		{"TCP", syn.bytes(t), nil},
		{"ICMP error", unreach.bytes(t), nil},
		{"IPv4 header", Patch(udp.bytes(t), ip+8, 63), []string{"wrong IPv4 header checksum"}},
		{"UDP port", Patch(udp.bytes(t), l4, 0x9c, 0x41), []string{"wrong checksum of protocol 17"}},
		{"UDP pseudo header", Patch(udp.bytes(t), ip+12, 10, 10, 0, 3), []string{
			"wrong IPv4 header checksum", "wrong checksum of protocol 17",
		}},
		{"TCP port", Patch(syn.bytes(t), l4+2, 0, 81), []string{"wrong checksum of protocol 6"}},
		{"ICMP identifier", Patch(ping.bytes(t), l4+5, 8), []string{"wrong ICMP checksum"}},
		{"inner IPv4 header", Patch(unreach.bytes(t), l4+8+12, 10, 10, 0, 2), []string{
			"wrong ICMP checksum", "wrong inner IPv4 header checksum",
		}},
		{"truncated", udp.bytes(t)[:30], []string{"no whole IPv4 packet"}},
		{"UDP-Lite", lite.bytes(t), nil},
		{"UDP-Lite port", Patch(lite.bytes(t), l4, 0x9c, 0x41), []string{"wrong checksum of protocol 136"}},
		{"DCCP", dccp.bytes(t), nil},
		{"DCCP pseudo header", Patch(dccp.bytes(t), ip+12, 10, 10, 0, 3), []string{
			"wrong IPv4 header checksum", "wrong checksum of protocol 33",
		}},
		{"SCTP", sctp.bytes(t), nil},
		{"SCTP port", Patch(sctp.bytes(t), l4, 0x23, 0x29), []string{"wrong SCTP checksum"}},
		// Not in SCTP's checksum: an address change needs no new one.
		{"SCTP address", Patch(sctp.bytes(t), ip+12, 10, 10, 0, 3), []string{"wrong IPv4 header checksum"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checksumErrors(tc.frame); !slices.Equal(got, tc.want) {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
}
