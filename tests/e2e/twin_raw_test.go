package e2e

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// Crafted packets: what scapy would send, from raw sockets opened in a
// world's namespaces.

// rawConn is a raw IPv4 socket of one protocol in a netns: writes get
// their IP header from the kernel, protocol 255 (IPPROTO_RAW) writes
// whole packets, reads return what follows the IP header.
func rawConn(t *testing.T, ns string, proto int) *net.IPConn {
	t.Helper()
	var c *net.IPConn
	err := world.InNetns(ns, func() (err error) {
		c, err = net.ListenIP("ip4:"+strconv.Itoa(proto), &net.IPAddr{IP: net.IPv4zero})
		return err
	})
	if err != nil {
		t.Fatalf("raw socket of protocol %d in %s: %v", proto, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendRaw writes each packet to dst on a raw socket of protocol proto.
func sendRaw(t *testing.T, ns string, proto int, dst netip.Addr, pkts ...[]byte) {
	t.Helper()
	c := rawConn(t, ns, proto)
	for _, p := range pkts {
		if _, err := c.WriteToIP(p, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			t.Fatalf("send %d bytes of protocol %d from %s: %v", len(p), proto, ns, err)
		}
	}
}

// ipWatch records the packets of one protocol that reach a netns and,
// with echo, sends each one's payload back to its source.
type ipWatch struct {
	mu   sync.Mutex
	pkts []rawPacket
}

type rawPacket struct {
	Src     netip.Addr
	Payload []byte
}

func watchIP(t *testing.T, ns string, proto int, echo bool) *ipWatch {
	t.Helper()
	c := rawConn(t, ns, proto)
	w := &ipWatch{}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromIP(buf)
			if err != nil {
				return
			}
			src, _ := netip.AddrFromSlice(from.IP.To4())
			w.mu.Lock()
			w.pkts = append(w.pkts, rawPacket{src, bytes.Clone(buf[:n])})
			w.mu.Unlock()
			if echo {
				_, _ = c.WriteToIP(buf[:n], from)
			}
		}
	}()
	return w
}

// with is the packets so far whose payload holds marker, after a moment
// for them to arrive.
func (w *ipWatch) with(marker []byte) []rawPacket {
	var got []rawPacket
	for range 10 {
		got = got[:0]
		w.mu.Lock()
		for _, p := range w.pkts {
			if bytes.Contains(p.Payload, marker) {
				got = append(got, p)
			}
		}
		w.mu.Unlock()
		if len(got) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return got
}

var serialize = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

// udpDatagram is a UDP header and payload from src to dst, its checksum
// set for the pseudo-header, or left zero ("no checksum") if zero is set.
func udpDatagram(src, dst netip.AddrPort, payload []byte, zero bool) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	_ = gopacket.SerializeLayers(buf, serialize, udp, gopacket.Payload(payload))
	b := buf.Bytes()
	if zero {
		b[6], b[7] = 0, 0
	}
	return b
}

// fragments cuts a UDP datagram from src to dst into IPv4 fragments of
// at most size bytes of data (a multiple of 8), in order.
func fragments(src, dst netip.AddrPort, payload []byte, size int, id uint16) [][]byte {
	body := udpDatagram(src, dst, payload, false)
	var frags [][]byte
	for off := 0; off < len(body); off += size {
		end := min(off+size, len(body))
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: id, FragOffset: uint16(off / 8),
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		if end < len(body) {
			ip.Flags = layers.IPv4MoreFragments
		}
		buf := gopacket.NewSerializeBuffer()
		_ = gopacket.SerializeLayers(buf, serialize, ip, gopacket.Payload(body[off:end]))
		frags = append(frags, bytes.Clone(buf.Bytes()))
	}
	return frags
}

// tcpSegment is a TCP header from src to dst with the given sequence
// numbers and flags, its checksum set.
func tcpSegment(src, dst netip.AddrPort, seq, ack uint32, flags func(*layers.TCP)) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack, Window: 512}
	flags(tcp)
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	_ = gopacket.SerializeLayers(buf, serialize, tcp)
	return buf.Bytes()
}

// tcpHeader reads ports and sequence numbers from a TCP header.
func tcpHeader(b []byte) (sport, dport uint16, seq, ack uint32, ok bool) {
	if len(b) < 20 {
		return 0, 0, 0, 0, false
	}
	return binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]),
		binary.BigEndian.Uint32(b[8:]), true
}

// twinSendFrames sends Ethernet frames out of a device of a netns.
func twinSendFrames(t *testing.T, ns, dev string, frames ...[]byte) {
	t.Helper()
	err := world.InNetns(ns, func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
			copy(sa.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send frames out of %s in %s: %v", dev, ns, err)
	}
}

// framesWith counts, for a second after send, the frames a device of a
// netns receives that carry marker.
func framesWith(t *testing.T, ns, dev string, marker []byte, send func()) int {
	t.Helper()
	var fd int
	err := world.InNetns(ns, func() (err error) {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 100_000}
		_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatalf("packet socket on %s in %s: %v", dev, ns, err)
	}
	defer unix.Close(fd)
	send()
	n, buf, end := 0, make([]byte, 65536), time.Now().Add(time.Second)
	for time.Now().Before(end) {
		if m, _, err := unix.Recvfrom(fd, buf, 0); err == nil && bytes.Contains(buf[:m], marker) {
			n++
		}
	}
	return n
}

// ethFrame is a frame from src to dst MAC of the given EtherType; a VLAN
// id puts an 802.1Q tag before it.
func ethFrame(dst, src net.HardwareAddr, etherType uint16, vlan uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst...), src...)
	if vlan != 0 {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, vlan)
	}
	f = binary.BigEndian.AppendUint16(f, etherType)
	return append(f, payload...)
}
