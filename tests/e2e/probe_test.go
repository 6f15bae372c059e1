package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the probe the tests run inside namespaces:
// echo servers that report the peer they see, and clients that report the
// reply and the address it came from. init runs it before the tests would
// start when the probe variable is set.
const probeEnv = "EBPFNET_E2E_PROBE"

func init() {
	if os.Getenv(probeEnv) == "" {
		return
	}
	if err := probe(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// probeReply is what a dial prints: the server's answer (its tag and the
// peer it saw), and the peer the client's socket shows (getpeername for
// TCP, recvfrom's source for UDP).
type probeReply struct {
	Reply string `json:"reply"`
	Peer  string `json:"peer"`
}

func probe(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("usage: serve|dial|stream|bind PROTO ADDR ... | raw DEV MAC SRC DST | nochmod PROG ARG...")
	}
	switch args[0] {
	case "serve":
		tag := "-"
		if len(args) > 3 {
			tag = args[3]
		}
		if args[1] == "tcp" {
			return probeServeTCP(args[2], tag)
		}
		return probeServeUDP(args[2], tag)
	case "dial":
		var r probeReply
		var err error
		switch args[1] {
		case "tcp":
			r, err = probeDialTCP(args[2])
		case "udp-connected":
			r, err = probeDialConnectedUDP(args[2])
		default:
			r, err = probeDialUDP(args[2], args[3:]...)
		}
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(r)
	case "stream":
		return stream(args[1], args[2])
	case "raw":
		return rawUDP(args[1:])
	case "bind":
		return bind(args[1], args[2])
	case "nochmod":
		return noChmod(args[1:])
	}
	return fmt.Errorf("unknown probe %q", args[0])
}

// probeServeTCP answers each connection's first line with "TAG PEER" and
// prints "got PEER" for the test to count.
func probeServeTCP(addr, tag string) error {
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				return
			}
			fmt.Println("got", c.RemoteAddr())
			fmt.Fprintf(c, "%s %s\n", tag, c.RemoteAddr())
		}()
	}
}

func probeServeUDP(addr, tag string) error {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, 2048)
	for {
		_, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		fmt.Println("got", from)
		_, _ = c.WriteTo([]byte(tag+" "+from.String()), from)
	}
}

func probeDialTCP(addr string) (probeReply, error) {
	c, err := net.DialTimeout("tcp4", addr, 3*time.Second)
	if err != nil {
		return probeReply{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		return probeReply{}, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return probeReply{}, err
	}
	peer, err := getpeername(c.(*net.TCPConn))
	return probeReply{Reply: strings.TrimSpace(line), Peer: peer}, err
}

// getpeername asks the kernel rather than trusting net.Conn's cached
// address, since the recvmsg/getpeername programs are what is tested.
func getpeername(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var sa syscall.Sockaddr
	var serr error
	if err := raw.Control(func(fd uintptr) { sa, serr = syscall.Getpeername(int(fd)) }); err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	in, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return "", errors.New("peer is not IPv4")
	}
	return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)).String(), nil
}

// probeDialUDP sends from an unconnected socket, so the reply's source is
// what recvfrom reports; from a given local address if there is one.
func probeDialUDP(addr string, local ...string) (probeReply, error) {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return probeReply{}, err
	}
	var from *net.UDPAddr
	if len(local) > 0 {
		if from, err = net.ResolveUDPAddr("udp4", local[0]); err != nil {
			return probeReply{}, err
		}
	}
	c, err := net.ListenUDP("udp4", from)
	if err != nil {
		return probeReply{}, err
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for try := 0; try < 3; try++ {
		if _, err := c.WriteTo([]byte("hi"), to); err != nil {
			return probeReply{}, err
		}
		_ = c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		n, from, err := c.ReadFrom(buf)
		if err == nil {
			return probeReply{Reply: string(buf[:n]), Peer: from.String()}, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return probeReply{}, err
		}
	}
	return probeReply{}, errors.New("no reply")
}

// probeDialConnectedUDP is probeDialUDP from a connected socket, which
// hears ICMP errors: a port nothing holds answers "connection refused".
func probeDialConnectedUDP(addr string) (probeReply, error) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return probeReply{}, err
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for try := 0; try < 3; try++ {
		if _, err := c.Write([]byte("hi")); err != nil {
			return probeReply{}, err
		}
		_ = c.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return probeReply{Reply: string(buf[:n]), Peer: c.RemoteAddr().String()}, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return probeReply{}, err
		}
	}
	return probeReply{}, errors.New("no reply")
}

// stream keeps sending from one socket, one source port, for at most a
// minute: unconnected UDP as the client of moby #8795 does, or a connected
// UDP or TCP socket, which stops at its first failed send and prints why.
func stream(proto, addr string) error {
	if proto == "udp" {
		return streamUDP(addr)
	}
	network := map[string]string{"udp-connected": "udp4", "tcp": "tcp4"}[proto]
	c, err := net.DialTimeout(network, addr, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < 3000; i++ {
		if _, err := c.Write([]byte(strconv.Itoa(i) + "\n")); err != nil {
			fmt.Println("send:", err)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func streamUDP(addr string) error {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < 3000; i++ {
		_, _ = c.WriteTo([]byte(strconv.Itoa(i)), to)
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// bind says whether a socket of the namespace can take an address.
func bind(proto, addr string) error {
	if proto == "tcp" {
		l, err := net.Listen("tcp4", addr)
		if err == nil {
			l.Close()
		}
		return err
	}
	c, err := net.ListenPacket("udp4", addr)
	if err == nil {
		c.Close()
	}
	return err
}

// rawUDP sends UDP datagrams as raw frames out of a device, to addresses
// the kernel would never route there (127.0.0.1): DEV DSTMAC SRC DST.
func rawUDP(args []string) error {
	if len(args) != 4 {
		return errors.New("raw DEV DSTMAC SRCIP:PORT DSTIP:PORT")
	}
	dev, err := net.InterfaceByName(args[0])
	if err != nil {
		return err
	}
	dmac, err := net.ParseMAC(args[1])
	if err != nil {
		return err
	}
	src, err := netip.ParseAddrPort(args[2])
	if err != nil {
		return err
	}
	dst, err := netip.ParseAddrPort(args[3])
	if err != nil {
		return err
	}
	eth := &layers.Ethernet{SrcMAC: dev.HardwareAddr, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload("raw")); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: dev.Index, Halen: 6}
	copy(sa.Addr[:], dmac)
	for i := 0; i < 5; i++ {
		if err := unix.Sendto(fd, buf.Bytes(), 0, sa); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
