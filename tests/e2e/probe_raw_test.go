package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Probes of raw IP and raw Ethernet, for the protocols no tool of the
// machine speaks: GRE and IP protocol 253 without a tunnel driver, ICMP
// queries other than echo, frames of any ethertype and VLAN.

// rawProbe runs the raw probes: ipecho PROTO | ipping PROTO DST |
// icmpquery TYPE ID DST | l2send DEV DSTMAC SRCMAC ETHERTYPE VLAN MARKER |
// l2recv DEV MARKER | ra DEV.
func rawProbe(args []string) error {
	switch {
	case args[0] == "ipecho" && len(args) == 2:
		return ipEcho(args[1])
	case args[0] == "ipping" && len(args) == 3:
		return ipPing(args[1], args[2])
	case args[0] == "icmpquery" && len(args) == 4:
		return icmpQuery(args[1], args[2], args[3])
	case args[0] == "l2send" && len(args) == 7:
		return l2Send(args[1:])
	case args[0] == "l2recv" && len(args) == 3:
		return l2Recv(args[1], args[2])
	case args[0] == "ra" && len(args) == 2:
		return routerAdvert(args[1])
	}
	return fmt.Errorf("bad raw probe %q", args)
}

// rawIP is a raw IPv4 socket of one protocol: the kernel writes the IP
// header of what it sends and hands it every packet of the protocol
// whole.
func rawIP(proto string) (int, error) {
	p, err := strconv.Atoi(proto)
	if err != nil {
		return -1, err
	}
	return unix.Socket(unix.AF_INET, unix.SOCK_RAW, p)
}

// recvIP reads one packet, or fails after timeout; it returns the source
// and what follows the IP header.
func recvIP(fd int, timeout time.Duration) (netip.Addr, []byte, error) {
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return netip.Addr{}, nil, err
	}
	buf := make([]byte, 2048)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	if n < 20 || n < int(buf[0]&0xf)*4 {
		return netip.Addr{}, nil, errors.New("short packet")
	}
	return netip.AddrFrom4([4]byte(buf[12:16])), buf[int(buf[0]&0xf)*4 : n], nil
}

func sendIP(fd int, dst netip.Addr, payload []byte) error {
	return unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Addr: dst.As4()})
}

// ipEcho sends every packet of a protocol back to where it came from, for
// at most a minute, and prints "got SRC" for each.
func ipEcho(proto string) error {
	fd, err := rawIP(proto)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	fmt.Println("ready")
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		src, payload, err := recvIP(fd, time.Second)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return err
		}
		fmt.Println("got", src)
		if err := sendIP(fd, src, payload); err != nil {
			return err
		}
	}
	return nil
}

// ipPing sends a packet of a protocol to dst and waits for one back from
// it with the same payload; it prints the peer as a dial does.
func ipPing(proto, dst string) error {
	to, err := netip.ParseAddr(dst)
	if err != nil {
		return err
	}
	fd, err := rawIP(proto)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	msg := []byte(fmt.Sprintf("ebpfnet-%d", os.Getpid()))
	for try := 0; try < 3; try++ {
		if err := sendIP(fd, to, msg); err != nil {
			return err
		}
		for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); {
			src, payload, err := recvIP(fd, time.Until(end))
			if err != nil {
				break
			}
			if src == to && bytes.Equal(payload, msg) {
				return json.NewEncoder(os.Stdout).Encode(probeReply{Reply: "echo", Peer: src.String()})
			}
		}
	}
	return errors.New("no reply")
}

// icmpQuery sends an ICMP query (13 timestamp, 15 information, 17 address
// mask) and waits for its reply, the next type with the same identifier.
func icmpQuery(typ, id, dst string) error {
	t, err := strconv.Atoi(typ)
	if err != nil {
		return err
	}
	ident, err := strconv.ParseUint(id, 10, 16)
	if err != nil {
		return err
	}
	to, err := netip.ParseAddr(dst)
	if err != nil {
		return err
	}
	fd, err := rawIP(strconv.Itoa(unix.IPPROTO_ICMP))
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	req := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8(t), 0), Id: uint16(ident), Seq: 1}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, req,
		gopacket.Payload(make([]byte, 12))); err != nil {
		return err
	}
	for try := 0; try < 3; try++ {
		if err := sendIP(fd, to, buf.Bytes()); err != nil {
			return err
		}
		for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); {
			src, icmp, err := recvIP(fd, time.Until(end))
			if err != nil {
				break
			}
			if src == to && len(icmp) >= 8 && int(icmp[0]) == t+1 && binary.BigEndian.Uint16(icmp[4:]) == uint16(ident) {
				return json.NewEncoder(os.Stdout).Encode(probeReply{Reply: fmt.Sprintf("type %d", icmp[0]), Peer: src.String()})
			}
		}
	}
	return errors.New("no reply")
}

// packetSocket is an AF_PACKET socket on a device, for every ethertype.
func packetSocket(dev string) (int, *net.Interface, error) {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return -1, nil, err
	}
	all := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, all)
	if err != nil {
		return -1, nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(all), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, ifc, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// l2Send sends three frames of an ethertype out of a device, tagged with
// a VLAN unless it is 0, from a source MAC ("-": the device's), with the
// marker as payload.
func l2Send(args []string) error {
	dev, dstMAC, srcMAC, typ, vlan, marker := args[0], args[1], args[2], args[3], args[4], args[5]
	fd, ifc, err := packetSocket(dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	dst, err := net.ParseMAC(dstMAC)
	if err != nil {
		return err
	}
	src := ifc.HardwareAddr
	if srcMAC != "-" {
		if src, err = net.ParseMAC(srcMAC); err != nil {
			return err
		}
	}
	et, err := strconv.ParseUint(typ, 0, 16)
	if err != nil {
		return err
	}
	vid, err := strconv.ParseUint(vlan, 10, 12)
	if err != nil {
		return err
	}
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetType(et)}}
	if vid != 0 {
		ls[0].(*layers.Ethernet).EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(vid), Type: layers.EthernetType(et)})
	}
	payload := append([]byte(marker), make([]byte, 46)...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, append(ls, gopacket.Payload(payload))...); err != nil {
		return err
	}
	return sendFrames(fd, ifc.Index, dst, buf.Bytes(), 3)
}

func sendFrames(fd, ifindex int, dst net.HardwareAddr, frame []byte, n int) error {
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
	copy(sa.Addr[:], dst)
	for i := 0; i < n; i++ {
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// l2Recv prints "frame SRC TYPE vlan VID TAG" for each frame on a device
// whose payload has a tag that starts with marker, for at most a minute. The kernel takes a VLAN tag
// out of the frame before a packet socket sees it and tells it apart
// (PACKET_AUXDATA).
func l2Recv(dev, marker string) error {
	fd, _, err := packetSocket(dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return err
	}
	tv := unix.NsecToTimeval(time.Second.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	fmt.Println("ready")
	buf, oob := make([]byte, 2048), make([]byte, 256)
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return err
		}
		i := bytes.Index(buf[:n], []byte(marker))
		if n < 14 || i < 0 {
			continue
		}
		tag, _, _ := bytes.Cut(buf[i:n], []byte{0})
		fmt.Printf("frame %s %#04x vlan %d %s\n", net.HardwareAddr(buf[6:12]), binary.BigEndian.Uint16(buf[12:14]), vlanOf(oob[:oobn]), tag)
	}
	return nil
}

// vlanOf reads the VLAN id from a packet socket's auxdata, 0 if none.
func vlanOf(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < 20 {
			continue
		}
		// struct tpacket_auxdata: status, len, snaplen, mac, net, vlan_tci.
		if binary.NativeEndian.Uint32(m.Data)&unix.TP_STATUS_VLAN_VALID != 0 {
			return int(binary.NativeEndian.Uint16(m.Data[16:]) & 0xfff)
		}
	}
	return 0
}

// routerAdvert sends what a rogue IPv6 router would: an advertisement to
// every node, offering itself as the default router and a prefix to take
// an address from.
func routerAdvert(dev string) error {
	fd, ifc, err := packetSocket(dev)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	allNodes := net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: net.ParseIP("fe80::bad"), DstIP: net.ParseIP("ff02::1")}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeRouterAdvertisement, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	prefix := make([]byte, 30) // prefix information: 2001:db8:bad::/64, on-link, autonomous
	prefix[0], prefix[1] = 64, 0xc0
	binary.BigEndian.PutUint32(prefix[2:], 86400)
	binary.BigEndian.PutUint32(prefix[6:], 14400)
	copy(prefix[14:], net.ParseIP("2001:db8:bad::"))
	ra := &layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: 1800,
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptPrefixInfo, Data: prefix},
			{Type: layers.ICMPv6OptSourceAddress, Data: ifc.HardwareAddr}}}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	eth := &layers.Ethernet{SrcMAC: ifc.HardwareAddr, DstMAC: allNodes, EthernetType: layers.EthernetTypeIPv6}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, icmp, ra); err != nil {
		return err
	}
	return sendFrames(fd, ifc.Index, allNodes, buf.Bytes(), 3)
}

// collector is a probe running in the background and the lines it has
// printed after "ready".
type collector struct {
	echoServer
}

func (c *collector) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

// startProbe starts a probe that prints "ready" once it listens, and
// collects what it prints after; it is killed at the end of the test.
func startProbe(t *testing.T, w *world.World, netns string, args ...string) *collector {
	t.Helper()
	cmd := probeCmd(w, netns, false, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start probe %v in %s: %v", args, netns, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := &collector{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
				continue
			}
			c.mu.Lock()
			c.got = append(c.got, sc.Text())
			c.mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("probe %v in %s did not start", args, netns)
	}
	return c
}

// mustProbeReply runs a probe that prints a probeReply and returns it.
func mustProbeReply(t *testing.T, w *world.World, netns string, args ...string) probeReply {
	t.Helper()
	out, err := probeCmd(w, netns, false, args...).CombinedOutput()
	var r probeReply
	if err == nil {
		err = json.Unmarshal([]byte(strings.TrimSpace(string(out))), &r)
	}
	if err != nil {
		t.Fatalf("probe %v in %s: %v: %s", args, netns, err, out)
	}
	return r
}
