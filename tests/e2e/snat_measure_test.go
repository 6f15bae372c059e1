package e2e

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestSNATNearExhaustionVsNetfilter measures, rather than tests, how many
// masqueraded flows near port exhaustion fail with ebpfnet and with
// netfilter (an iptables MASQUERADE world of a bridge and veths) on the
// same topology. It runs only with EBPFNET_SNAT_MEASURE="LO-HI FILL EXTRA":
// endpoint a sends one UDP datagram to one ext server from each of FILL
// ports drawn at random from the range LO-HI, which they keep; then b
// sends one from each of EXTRA of a's ports, which must all move into the
// range's FILL-less rest. A flow fails when its datagram does not reach
// ext; at least EXTRA - (HI-LO+1-FILL) must. With 1024-65535, the
// netfilter side is MASQUERADE's default range; with any other, both
// sides are given it (--snat-ports, --to-ports), and a's ports are in it.
//
//	EBPFNET_SNAT_MEASURE="1024-65535 57000 5000" go test ./tests/e2e -run VsNetfilter -v
func TestSNATNearExhaustionVsNetfilter(t *testing.T) {
	spec := os.Getenv("EBPFNET_SNAT_MEASURE")
	if spec == "" {
		t.Skip("a measurement: set EBPFNET_SNAT_MEASURE=\"LO-HI FILL EXTRA\"")
	}
	var lo, hi, fill, extra int
	f := strings.Fields(strings.ReplaceAll(spec, "-", " "))
	ok := len(f) == 4
	for i, p := range []*int{&lo, &hi, &fill, &extra} {
		var err error
		if ok {
			*p, err = strconv.Atoi(f[i])
		}
		ok = ok && err == nil
	}
	if !ok || lo < 1024 || hi > 65535 || lo > hi || fill+1 > hi-lo+1 || extra > fill {
		t.Fatalf("EBPFNET_SNAT_MEASURE=%q: want \"LO-HI FILL EXTRA\", 1024 <= LO <= HI, FILL < the range, EXTRA <= FILL", spec)
	}
	rng := rand.New(rand.NewPCG(19, 12))
	ports := rng.Perm(hi - lo + 1)[:fill]
	for i := range ports {
		ports[i] += lo
	}
	subnet := netip.MustParsePrefix("10.34.0.0/24")
	toPorts := ""
	if lo != 1024 || hi != 65535 {
		toPorts = strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
	}
	sides := []struct {
		name  string
		build func() (*world.World, string, string)
	}{
		{"ebpfnet", func() (*world.World, string, string) {
			w := newWorld(t, "--snat-ports", strconv.Itoa(lo)+"-"+strconv.Itoa(hi))
			w.MustCLI("network", "create", "web", "--subnet", subnet.String())
			a, b := w.Name("a"), w.Name("b")
			newEndpoint(t, w, a, "web")
			newEndpoint(t, w, b, "web")
			return w, a, b
		}},
		{"netfilter", func() (*world.World, string, string) {
			w := world.New(t, bin)
			nf := newNFMasq(t, w, subnet, toPorts)
			a, _ := nf.endpoint(t, "a")
			b, _ := nf.endpoint(t, "b")
			return w, a, b
		}},
	}
	minFail := max(0, extra-(hi-lo+1-fill))
	for _, s := range sides {
		w, a, b := s.build()
		rx := startCounter(t, w.Ext, netip.AddrPortFrom(world.ExtIP, 7000))
		start := time.Now()
		sendFrom(t, a, "a", ports, rx.addr)
		gotA := rx.settle("a", fill)
		sendFrom(t, b, "b", ports[:extra], rx.addr)
		gotB := rx.settle("b", extra)
		t.Logf("%s: range %d-%d, a kept %d of %d ports, b: %d of %d flows failed (at least %d must), %s",
			s.name, lo, hi, gotA, fill, extra-gotB, extra, minFail, time.Since(start).Round(time.Millisecond))
		if s.name == "ebpfnet" {
			t.Logf("ebpfnet: drop-nat-ports-exhausted counts %d for b", counted(t, w, b, "drop-nat-ports-exhausted"))
		}
	}
}

// flowCounter counts the distinct flows whose datagrams reach a UDP
// socket, by the "TAG PORT" each carries.
type flowCounter struct {
	addr netip.AddrPort
	mu   sync.Mutex
	seen map[string]map[string]bool
}

func startCounter(t *testing.T, ns string, addr netip.AddrPort) *flowCounter {
	t.Helper()
	var c *net.UDPConn
	if err := world.InNetns(ns, func() (err error) {
		if c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr)); err != nil {
			return err
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20) })
		if err == nil {
			err = serr
		}
		return err
	}); err != nil {
		t.Fatalf("counter on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	fc := &flowCounter{addr: addr, seen: map[string]map[string]bool{}}
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			tag, port, _ := strings.Cut(string(buf[:n]), " ")
			fc.mu.Lock()
			if fc.seen[tag] == nil {
				fc.seen[tag] = map[string]bool{}
			}
			fc.seen[tag][port] = true
			fc.mu.Unlock()
		}
	}()
	return fc
}

func (fc *flowCounter) count(tag string) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.seen[tag])
}

// settle waits until want flows of tag arrived, or none more for a second.
func (fc *flowCounter) settle(tag string, want int) int {
	last, since := -1, time.Now()
	for time.Since(since) < time.Second {
		n := fc.count(tag)
		if n == want {
			return n
		}
		if n != last {
			last, since = n, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// sendFrom sends one datagram "TAG PORT" from each port to dst, from a
// socket of ns bound to that port and closed after it: one flow a port.
// It paces itself at about 20,000 a second.
func sendFrom(t *testing.T, ns, tag string, ports []int, dst netip.AddrPort) {
	t.Helper()
	to := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	err := world.InNetns(ns, func() error {
		for i, p := range ports {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			err = unix.Bind(fd, &unix.SockaddrInet4{Port: p})
			if err == nil {
				err = unix.Sendto(fd, []byte(tag+" "+strconv.Itoa(p)), 0, to)
			}
			unix.Close(fd)
			if err != nil {
				return err
			}
			if i%20 == 19 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send from %s: %v", ns, err)
	}
}
