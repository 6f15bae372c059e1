package e2e

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// nfMasq is the netfilter side of a comparison: in a world whose daemon is
// never started, the node gets a bridge with the endpoints' gateway, each
// endpoint a netns joined to it by a veth, and iptables masquerades the
// subnet out of the uplink, as Docker's bridge driver does. Close removes
// it with the world's namespaces.
type nfMasq struct {
	w      *world.World
	subnet netip.Prefix
	next   netip.Addr
}

// newNFMasq sets up the bridge and the masquerade rule; toPorts, if not
// empty, is MASQUERADE's --to-ports for TCP and UDP.
func newNFMasq(t *testing.T, w *world.World, subnet netip.Prefix, toPorts string) *nfMasq {
	t.Helper()
	gw := subnet.Addr().Next()
	m := &nfMasq{w: w, subnet: subnet, next: gw.Next()}
	br := "nfbr0"
	w.MustExec(w.Node, "ip", "link", "add", br, "type", "bridge")
	w.MustExec(w.Node, "ip", "addr", "add", netip.PrefixFrom(gw, subnet.Bits()).String(), "dev", br)
	w.MustExec(w.Node, "ip", "link", "set", br, "up")
	w.MustExec(w.Node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	rules := [][]string{{"-s", subnet.String(), "!", "-d", subnet.String(), "-j", "MASQUERADE"}}
	if toPorts != "" {
		rules = [][]string{
			{"-s", subnet.String(), "!", "-d", subnet.String(), "-p", "tcp", "-j", "MASQUERADE", "--to-ports", toPorts},
			{"-s", subnet.String(), "!", "-d", subnet.String(), "-p", "udp", "-j", "MASQUERADE", "--to-ports", toPorts},
		}
	}
	for _, r := range rules {
		w.MustExec(w.Node, append([]string{"iptables", "-t", "nat", "-A", "POSTROUTING"}, r...)...)
	}
	return m
}

// endpoint adds an endpoint netns with the next free address and returns
// its name and address.
func (m *nfMasq) endpoint(t *testing.T, name string) (string, netip.Addr) {
	t.Helper()
	ns, ip := m.w.Name(name), m.next
	m.next = m.next.Next()
	host := "nfv" + name
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", m.w.Node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", m.w.Node, "link", "set", host, "master", "nfbr0", "up"},
		{"-n", ns, "addr", "add", netip.PrefixFrom(ip, m.subnet.Bits()).String(), "dev", "eth0"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "route", "add", "default", "via", m.subnet.Addr().Next().String()},
	}
	for _, s := range steps {
		mustIP(t, s...)
	}
	return ns, ip
}

// mustIP runs ip(8) in the machine's netns, on namespaces it names.
func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
