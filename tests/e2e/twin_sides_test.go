package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Both sides are built by the top-level test and used from its subtests,
// so their methods report errors to the subtest's t, never the world's.

type ebpfnetSide struct {
	w   *world.World
	far string
}

func newEbpfnetSide(t *testing.T) *ebpfnetSide {
	w := newWorld(t)
	far := w.AddFar(1280)
	w.MustCLI("network", "create", "twin", "--subnet", twinSubnet.String())
	return &ebpfnetSide{w: w, far: far}
}

func (s *ebpfnetSide) Name() string        { return "ebpfnet" }
func (s *ebpfnetSide) World() *world.World { return s.w }
func (s *ebpfnetSide) Far() string         { return s.far }

func (s *ebpfnetSide) Endpoint(t *testing.T, name string, host byte) string {
	t.Helper()
	ns := s.w.Name(name)
	if _, err := s.w.CLI("endpoint", "create", ns, "--network", "twin", "--ip", twinAddr(host).String()); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (s *ebpfnetSide) Publish(endpoint string, specs ...string) error {
	_, err := s.w.CLI(append([]string{"publish", endpoint}, specs...)...)
	return err
}

func (s *ebpfnetSide) Flows(t *testing.T) []flow {
	t.Helper()
	out, err := s.w.CLI("bpf", "ct", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var fs []api.BPFFlow
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatal(err)
	}
	var flows []flow
	for _, f := range fs {
		src, err1 := netip.ParseAddrPort(f.Src)
		dst, err2 := netip.ParseAddrPort(f.Dst)
		if err1 == nil && err2 == nil {
			flows = append(flows, flow{Proto: f.Proto, Src: src, Dst: dst, TTL: f.TTLSeconds})
		}
	}
	return flows
}

func (s *ebpfnetSide) LimitSNATPorts(t *testing.T, _ netip.AddrPort, lo, hi uint16) {
	t.Helper()
	restart := func(args ...string) error {
		if _, err := s.w.CLI("daemon", "stop"); err != nil {
			return err
		}
		_, err := s.w.CLI(append(s.w.StartArgs(), args...)...)
		return err
	}
	if err := restart("--snat-ports", fmt.Sprintf("%d-%d", lo, hi)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restart(); err != nil {
			t.Error(err)
		}
	})
}

func (s *ebpfnetSide) NodeAddrKnown(t *testing.T, addr netip.Addr) {
	t.Helper()
	if !world.Wait(5*time.Second, func() bool { return hasNodeAddrs(t, s.w, addr.String()) }) {
		t.Fatalf("enet_node_addrs holds %v, not %v", nodeAddrs(t, s.w), addr)
	}
}

type netfilterSide struct {
	n   *world.Netfilter
	far string
	ips map[string]netip.Addr // endpoint netns -> address
}

func newNetfilterSide(t *testing.T) *netfilterSide {
	n := world.NewNetfilter(t, twinSubnet)
	return &netfilterSide{n: n, far: n.AddFar(1280), ips: map[string]netip.Addr{}}
}

func (s *netfilterSide) Name() string        { return "netfilter" }
func (s *netfilterSide) World() *world.World { return s.n.World }
func (s *netfilterSide) Far() string         { return s.far }

func (s *netfilterSide) Endpoint(t *testing.T, name string, host byte) string {
	t.Helper()
	ns, err := s.n.AddEndpoint(name, twinAddr(host))
	if err != nil {
		t.Fatal(err)
	}
	s.ips[ns] = twinAddr(host)
	return ns
}

// Publish reads the -p forms the probes use: [IP:]HOSTPORT:PORT[/PROTO].
func (s *netfilterSide) Publish(endpoint string, specs ...string) error {
	for _, spec := range specs {
		rest, proto, ok := strings.Cut(spec, "/")
		if !ok {
			proto = "tcp"
		}
		parts := strings.Split(rest, ":")
		var p world.Port
		if len(parts) == 3 {
			p.HostIP = netip.MustParseAddr(parts[0])
			parts = parts[1:]
		}
		host, err1 := strconv.ParseUint(parts[0], 10, 16)
		port, err2 := strconv.ParseUint(parts[1], 10, 16)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("port spec %q: want [IP:]HOSTPORT:PORT[/PROTO]", spec)
		}
		p.Proto, p.HostPort, p.Target = proto, uint16(host), netip.AddrPortFrom(s.ips[endpoint], uint16(port))
		if err := s.n.Publish(p); err != nil {
			return err
		}
	}
	return nil
}

// Flows reads `conntrack -L`: proto, number, seconds left, for TCP the
// state, then the original direction's src=, dst= and sport=, dport= (or
// id=), then the reply direction's.
func (s *netfilterSide) Flows(t *testing.T) []flow {
	t.Helper()
	out, err := s.n.Cmd(s.n.Node, "conntrack", "-L").Output()
	if err != nil {
		t.Fatalf("conntrack -L: %v", err)
	}
	var flows []flow
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		fl := flow{Proto: f[0]}
		fl.TTL, _ = strconv.ParseFloat(f[2], 64)
		kv := map[string]string{}
		for _, x := range f[3:] {
			if k, v, ok := strings.Cut(x, "="); ok && kv[k] == "" {
				kv[k] = v
			}
		}
		src, _ := netip.ParseAddr(kv["src"])
		dst, _ := netip.ParseAddr(kv["dst"])
		sport, _ := strconv.Atoi(kv["sport"] + kv["id"])
		dport, _ := strconv.Atoi(kv["dport"])
		fl.Src, fl.Dst = netip.AddrPortFrom(src, uint16(sport)), netip.AddrPortFrom(dst, uint16(dport))
		flows = append(flows, fl)
	}
	return flows
}

func (*netfilterSide) NodeAddrKnown(*testing.T, netip.Addr) {}

// LimitSNATPorts puts a MASQUERADE --to-ports rule for dst before the
// network's own.
func (s *netfilterSide) LimitSNATPorts(t *testing.T, dst netip.AddrPort, lo, hi uint16) {
	t.Helper()
	for _, proto := range []string{"tcp", "udp"} {
		rule := []string{"POSTROUTING", "-s", twinSubnet.String(), "-d", dst.Addr().String(), "-p", proto,
			"--dport", strconv.Itoa(int(dst.Port())), "-j", "MASQUERADE", "--to-ports", fmt.Sprintf("%d-%d", lo, hi)}
		if err := s.n.IPTables(append([]string{"-t", "nat", "-I"}, rule...)...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.n.IPTables(append([]string{"-t", "nat", "-D"}, rule...)...) })
	}
}

// twinAddr is 10.10.0.host.
func twinAddr(host byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 10, 0, host}) }
