package bpftest

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The uplink world of the enet_to_up tests: the node's uplink address, a
// server outside, and the range for source ports that must change.
var (
	uplinkIP  = addr("198.51.100.1")
	outside   = netip.AddrPortFrom(addr("198.51.100.2"), 7000)
	portRange = [2]uint16{40000, 40009}
)

func toUpWorld(t *testing.T) *Datapath {
	t.Helper()
	d := Load(t)
	d.SetConfig(loader.EnetConfig{
		UplinkIfindex: 2, SnatIp: uplinkIP.As4(), PortMin: portRange[0], PortMax: portRange[1],
		TimeoutSyn: 60, TimeoutEstablished: 3600, TimeoutClosing: 10,
		TimeoutUdp: 30, TimeoutUdpStream: 120, TimeoutIcmp: 30,
	})
	return d
}

// holdPort writes the flow of an endpoint masqueraded with source port (or
// echo id) port of the uplink address, as enet_from_ep writes it.
func holdPort(t *testing.T, d *Datapath, proto uint8, port uint16) {
	t.Helper()
	flow := maps.Tuple{Proto: proto, Src: netip.AddrPortFrom(web1.IP, port), Dst: outside}
	to := maps.Tuple{Proto: proto, Src: netip.AddrPortFrom(uplinkIP, port), Dst: outside}
	if proto == unix.IPPROTO_ICMP {
		flow.Dst, to.Dst = netip.AddrPortFrom(outside.Addr(), 0), netip.AddrPortFrom(outside.Addr(), 0)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	ct := loader.EnetCtEntry{
		CreatedNs: uint64(ts.Nano()), ExpiresNs: uint64(ts.Nano()) + 60e9,
		Flags: loader.EnetCtFlagCT_F_SNAT, Ifindex: uint32(web1.Ifindex), Reply: to.Reverse().Key(),
	}
	fwd := loader.EnetNatEntry{To: to.Key(), Flow: flow.Key()}
	rev := loader.EnetNatEntry{To: flow.Reverse().Key(), Flow: flow.Key(), Flags: loader.EnetNatFlagNAT_F_REPLY}
	for _, err := range []error{
		d.Maps.CT.Put(ptr(flow.Key()), &ct),
		d.Maps.NAT.Put(ptr(flow.Key()), &fwd),
		d.Maps.NAT.Put(ptr(to.Reverse().Key()), &rev),
	} {
		if err != nil {
			t.Fatalf("hold port %d: %v", port, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// hostPacket is a packet of the node's own from the uplink address, source
// port (or echo id) port, to the outside server.
func hostPacket(t *testing.T, l4 gopacket.SerializableLayer, port uint16) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: uplinkIP.AsSlice(), DstIP: outside.Addr().AsSlice()}
	switch l := l4.(type) {
	case *layers.TCP:
		ip.Protocol = layers.IPProtocolTCP
		l.SrcPort, l.DstPort, l.Window = layers.TCPPort(port), layers.TCPPort(outside.Port()), 512
		_ = l.SetNetworkLayerForChecksum(ip)
	case *layers.UDP:
		ip.Protocol = layers.IPProtocolUDP
		l.SrcPort, l.DstPort = layers.UDPPort(port), layers.UDPPort(outside.Port())
		_ = l.SetNetworkLayerForChecksum(ip)
	case *layers.ICMPv4:
		ip.Protocol = layers.IPProtocolICMPv4
		l.Id = port
	}
	return Frame(t, Eth(hw("02:00:00:00:00:01"), hw("02:00:00:00:00:02"), layers.EthernetTypeIPv4),
		ip, l4, gopacket.Payload("ebpfnet"))
}

// sourcePort is the TCP or UDP source port, or the echo id, of pkt.
func sourcePort(t *testing.T, pkt []byte) uint16 {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.Default)
	switch l := p.TransportLayer().(type) {
	case *layers.TCP:
		return uint16(l.SrcPort)
	case *layers.UDP:
		return uint16(l.SrcPort)
	}
	if icmp, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		return icmp.Id
	}
	t.Fatalf("no ports in %x", pkt)
	return 0
}

// checksumsRight: serialized again with every checksum computed, pkt is
// the same.
func checksumsRight(t *testing.T, pkt []byte) bool {
	t.Helper()
	p := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	var ls []gopacket.SerializableLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.TCP:
			_ = l.SetNetworkLayerForChecksum(ip)
		case *layers.UDP:
			_ = l.SetNetworkLayerForChecksum(ip)
		}
		if s, ok := l.(gopacket.SerializableLayer); ok {
			ls = append(ls, s)
		}
	}
	return bytes.Equal(Frame(t, ls...), pkt)
}

// TestToUpHostFlow: the node's own packets out of the uplink are recorded;
// one that opens a flow (TCP SYN, UDP, echo request) from a port or echo id
// an endpoint's masqueraded flow holds takes another from the range, as
// its replies would reach the endpoint otherwise. A packet of a
// connection already under way keeps its port.
func TestToUpHostFlow(t *testing.T) {
	echo := func() gopacket.SerializableLayer {
		return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Seq: 1}
	}
	cases := []struct {
		name   string
		l4     gopacket.SerializableLayer
		proto  uint8
		held   bool
		moves  bool
		record bool // the host's translation is in enet_nat after
	}{
		{"udp from a free port", &layers.UDP{}, unix.IPPROTO_UDP, false, false, true},
		{"udp from a held port", &layers.UDP{}, unix.IPPROTO_UDP, true, true, true},
		{"tcp syn from a held port", &layers.TCP{SYN: true}, unix.IPPROTO_TCP, true, true, true},
		{"tcp ack from a held port", &layers.TCP{ACK: true}, unix.IPPROTO_TCP, true, false, false},
		{"echo request with a free id", echo(), unix.IPPROTO_ICMP, false, false, true},
		{"echo request with a held id", echo(), unix.IPPROTO_ICMP, true, true, true},
	}
	const port = 6004
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := toUpWorld(t)
			if tc.held {
				holdPort(t, d, tc.proto, port)
			}
			pkt := hostPacket(t, tc.l4, port)
			r := d.RunTC(d.EnetToUp, 0, pkt)
			if r.Ret != ActOK {
				t.Fatalf("return code %d, want %d", r.Ret, ActOK)
			}
			got := sourcePort(t, r.Packet)
			if moved := got != port; moved != tc.moves || moved && (got < portRange[0] || got > portRange[1]) {
				t.Fatalf("source port %d, was %d; want it moved %v, into %v", got, port, tc.moves, portRange)
			}
			if !checksumsRight(t, r.Packet) {
				t.Fatalf("checksums wrong after the rewrite:\n%x", r.Packet)
			}
			checkHostNAT(t, d, tc.proto, port, got, tc.record)
		})
	}
}

// checkHostNAT asserts that enet_nat translates the host's packets from
// port to now, when it records them at all.
func checkHostNAT(t *testing.T, d *Datapath, proto uint8, port, now uint16, record bool) {
	t.Helper()
	all, err := d.Maps.NAT.All()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range all {
		if e.Host && !e.Reply && e.Tuple.Proto == proto && e.Tuple.Src == netip.AddrPortFrom(uplinkIP, port) {
			found = true
			if e.To.Src != netip.AddrPortFrom(uplinkIP, now) {
				t.Fatalf("host flow from port %d translated to %s, want port %d", port, e.To.Src, now)
			}
		}
	}
	if found != record {
		t.Fatalf("host flow recorded %v, want %v: %+v", found, record, all)
	}
}
