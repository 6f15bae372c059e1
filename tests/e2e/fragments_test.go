package e2e

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	osexec "os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// bigAnswer is the size of the answers that go in fragments: a large
// EDNS/DNSSEC answer's.
const bigAnswer = 4000

// TestFragments: datagrams in IPv4 fragments through masquerade and to a
// published UDP port, with real tools: iperf3 -u -l 8000 from an endpoint
// to ext and from ext to a published port, a 4,000-byte answer to an
// endpoint's query and from a published port to ext's. None of it piles
// up in the socket that holds the published port.
func TestFragments(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a")
	a := w.Name("a")
	w.MustCLI("publish", a, "5201:5201", "5201:5201/udp", "5300:5300/udp")
	extAnswers := netip.AddrPortFrom(world.ExtIP, 7001)
	bigServer(t, w.Ext, extAnswers)
	bigServer(t, a, netip.MustParseAddrPort("0.0.0.0:5300"))

	if got := iperfUDP(t, w, a, w.Ext, world.ExtIP); got == 0 {
		t.Errorf("iperf3 -u -l 8000 from %s through masquerade: nothing arrived", a)
	}
	if got := iperfUDP(t, w, w.Ext, a, world.NodeIP); got == 0 {
		t.Errorf("iperf3 -u -l 8000 from ext to the published port: nothing arrived")
	}
	if n, err := askBig(a, extAnswers); n != bigAnswer {
		t.Errorf("%s asked ext: answer of %d bytes, want %d: %v", a, n, bigAnswer, err)
	}
	published := netip.AddrPortFrom(world.NodeIP, 5300)
	if n, err := askBig(w.Ext, published); n != bigAnswer {
		t.Errorf("ext asked the published port: answer of %d bytes, want %d: %v", n, bigAnswer, err)
	}
	for _, port := range []string{"5201", "5300"} {
		if q := recvQ(t, w, port); q != 0 {
			t.Errorf("the socket holding %s/udp has %d bytes queued, want none", port, q)
		}
	}
	if n := counted(t, w, world.UplinkDev, "drop-fragment") + counted(t, w, a, "drop-fragment"); n != 0 {
		t.Errorf("%d fragments dropped:\n%s", n, w.MustCLI("bpf", "stats"))
	}
	t.Logf("ebpfnet status: enet_frags holds %d entries", mapEntries(t, w, "enet_frags"))
}

// iperfUDP runs `iperf3 -u -l 8000` for a second from client to an
// iperf3 server in server reached at dst:5201, and returns how many
// datagrams the server counted.
func iperfUDP(t *testing.T, w *world.World, client, server string, dst netip.Addr) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := cmdContext(ctx, w.Cmd(server, "iperf3", "-s", "-1", "-J", "-p", "5201"))
	var out strings.Builder
	srv.Stdout = &out
	if err := srv.Start(); err != nil {
		t.Fatalf("start iperf3 server in %s: %v", server, err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	if !world.Wait(5*time.Second, func() bool {
		o, _ := w.Exec(server, "ss", "-Hltn", "sport = :5201")
		return strings.TrimSpace(o) != ""
	}) {
		t.Fatalf("iperf3 server in %s does not listen", server)
	}
	cl := cmdContext(ctx, w.Cmd(client, "iperf3", "-c", dst.String(), "-p", "5201", "-u", "-l", "8000", "-b", "20M", "-t", "1"))
	if o, err := cl.CombinedOutput(); err != nil {
		t.Errorf("iperf3 client in %s: %v\n%s", client, err, o)
		return 0
	}
	if err := srv.Wait(); err != nil {
		t.Errorf("iperf3 server in %s: %v", server, err)
	}
	var r struct {
		End struct {
			Sum struct {
				Packets     int `json:"packets"`
				LostPackets int `json:"lost_packets"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("iperf3 server's report: %v\n%s", err, out.String())
	}
	got := r.End.Sum.Packets - r.End.Sum.LostPackets
	t.Logf("iperf3 -u -l 8000 from %s to %s: %d of %d datagrams arrived", client, dst, got, r.End.Sum.Packets)
	return got
}

// cmdContext is cmd killed when ctx ends.
func cmdContext(ctx context.Context, cmd *osexec.Cmd) *osexec.Cmd {
	c := osexec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = cmd.Env
	return c
}

// recvQ is how many bytes wait in the daemon's socket holding a UDP port.
func recvQ(t *testing.T, w *world.World, port string) int {
	t.Helper()
	out := w.MustExec(w.Node, "ss", "-Hnua", "sport = :"+port)
	f := strings.Fields(out)
	if len(f) < 2 {
		t.Fatalf("no socket holds %s/udp in the node:\n%s", port, out)
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	return n
}

// bigServer answers every datagram to addr in ns with bigAnswer bytes,
// which the kernel sends in fragments, until the test ends.
func bigServer(t *testing.T, ns string, addr netip.AddrPort) {
	t.Helper()
	var c net.PacketConn
	err := world.InNetns(ns, func() (err error) {
		c, err = net.ListenPacket("udp4", addr.String())
		return err
	})
	if err != nil {
		t.Fatalf("UDP server on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(make([]byte, bigAnswer), from)
		}
	}()
}

// askBig sends a query from ns to dst and returns the size of the answer;
// a query or answer lost is asked again, three times at most.
func askBig(ns string, dst netip.AddrPort) (int, error) {
	var c *net.UDPConn
	err := world.InNetns(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return answer(c, func() error {
		_, err := c.WriteToUDPAddrPort([]byte("q"), dst)
		return err
	})
}

// answer sends with send and waits a second for an answer, three times at
// most, and returns its size.
func answer(c *net.UDPConn, send func() error) (int, error) {
	buf := make([]byte, 65536)
	for try := 0; try < 3; try++ {
		if err := send(); err != nil {
			return 0, err
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := c.ReadFrom(buf)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, err
		}
	}
	return 0, errors.New("no answer")
}

// askReversed sends tries 3,000-byte queries from ns to dst, each cut
// into fragments of 1,480 bytes sent from a raw socket, the first fragment
// last, and waits for each one's answer to the UDP socket whose port it
// came from. It returns how many were answered.
func askReversed(ns string, dst netip.AddrPort, tries int) (int, error) {
	return askFragments(ns, dst, tries, true)
}

// askFragments is askReversed with the fragments in order unless
// reversed.
func askFragments(ns string, dst netip.AddrPort, tries int, reversed bool) (int, error) {
	answered := 0
	err := world.InNetns(ns, func() error {
		c, err := net.ListenUDP("udp4", nil)
		if err != nil {
			return err
		}
		defer c.Close()
		src := netip.AddrPortFrom(world.ExtIP, c.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		buf := make([]byte, 65536)
		for i := 0; i < tries; i++ {
			frags, err := ipFragments(src, dst, uint16(rand.Uint32()), make([]byte, 3000), 1480)
			if err != nil {
				return err
			}
			if reversed {
				slices.Reverse(frags)
			}
			if err := sendRawIP(dst.Addr(), frags); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := c.ReadFrom(buf); err == nil {
				answered++
			} else if !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
		}
		return nil
	})
	return answered, err
}

// sendRawIP sends IPv4 packets from a raw socket of the calling thread's
// namespace.
func sendRawIP(dst netip.Addr, pkts [][]byte) error {
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer unix.Close(raw)
	for _, p := range pkts {
		if err := unix.Sendto(raw, p, 0, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
			return err
		}
	}
	return nil
}

// ipFragments is a UDP datagram from src to dst cut into IPv4 fragments
// carrying size bytes of it each, in order.
func ipFragments(src, dst netip.AddrPort, id uint16, payload []byte, size int) ([][]byte, error) {
	ip := &layers.IPv4{Version: 4, TTL: 64, Id: id, Protocol: layers.IPProtocolUDP,
		SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, err
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, udp, gopacket.Payload(payload)); err != nil {
		return nil, err
	}
	whole := buf.Bytes()
	hdr, data := whole[:20], whole[20:]
	var out [][]byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		h := slices.Clone(hdr)
		binary.BigEndian.PutUint16(h[2:], uint16(20+end-off))
		fo := uint16(off / 8)
		if end < len(data) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		out = append(out, append(h, data[off:end]...)) // the kernel fills the header checksum in
	}
	return out, nil
}
