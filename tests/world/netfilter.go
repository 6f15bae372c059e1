package world

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netns"
)

// Netfilter is ebpfnet's twin: a World with the same namespaces and
// addresses, whose node does what Docker's bridge driver does with
// `dockerd --userland-proxy=false`: a Linux bridge, veth pairs, conntrack
// and the iptables rules libnetwork installs (moby's
// integration/network/bridge/iptablesdoc shows them), with host ports held
// by bound sockets as dockerd holds them. No ebpfnet runs in it.
type Netfilter struct {
	*World
	Subnet  netip.Prefix
	Gateway netip.Addr
	held    []*os.File
}

// TwinBridge is the twin's bridge in the node, Docker's docker0.
const TwinBridge = "twin0"

// NewNetfilter builds the twin with one network on subnet, its gateway
// the subnet's first address on the bridge.
func NewNetfilter(t T, subnet netip.Prefix) *Netfilter {
	t.Helper()
	n := &Netfilter{World: New(t, ""), Subnet: subnet, Gateway: subnet.Addr().Next()}
	t.Cleanup(n.release)
	gw := netip.PrefixFrom(n.Gateway, subnet.Bits()).String()
	steps := [][]string{
		{"ip", "link", "add", TwinBridge, "type", "bridge"},
		{"ip", "addr", "add", gw, "dev", TwinBridge},
		{"ip", "link", "set", TwinBridge, "up"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
		// userland-proxy=false: the node's 127.0.0.1 may be DNATed out of
		// the bridge, and bridged traffic meets the nat table (hairpin).
		{"sysctl", "-qw", "net.ipv4.conf." + TwinBridge + ".route_localnet=1"},
		{"sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"},
	}
	for _, s := range steps {
		n.MustExec(n.Node, s...)
	}
	n.restore(n.baseRules())
	return n
}

// baseRules are the bridge driver's rules for one network, no userland
// proxy: masquerade out of anything but the bridge, DNAT of published
// ports on every local address (the DOCKER chain), forwarding from the
// bridge and replies into it, and nothing else into it. dockerd sets
// FORWARD's policy to DROP when it is the one enabling ip_forward, as
// here.
func (n *Netfilter) baseRules() string {
	br, sub := TwinBridge, n.Subnet.String()
	return strings.Join([]string{
		"*filter",
		":FORWARD DROP [0:0]",
		":DOCKER - [0:0]", ":DOCKER-BRIDGE - [0:0]", ":DOCKER-CT - [0:0]",
		":DOCKER-FORWARD - [0:0]", ":DOCKER-INTERNAL - [0:0]", ":DOCKER-USER - [0:0]",
		"-A FORWARD -j DOCKER-USER",
		"-A FORWARD -j DOCKER-FORWARD",
		"-A DOCKER ! -i " + br + " -o " + br + " -j DROP",
		"-A DOCKER-BRIDGE -o " + br + " -j DOCKER",
		"-A DOCKER-CT -o " + br + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A DOCKER-FORWARD -j DOCKER-CT",
		"-A DOCKER-FORWARD -j DOCKER-INTERNAL",
		"-A DOCKER-FORWARD -j DOCKER-BRIDGE",
		"-A DOCKER-FORWARD -i " + br + " -j ACCEPT",
		"COMMIT",
		"*nat",
		":DOCKER - [0:0]",
		"-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
		"-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER",
		"-A POSTROUTING -o " + br + " -m addrtype --src-type LOCAL -j MASQUERADE",
		"-A POSTROUTING -s " + sub + " ! -o " + br + " -j MASQUERADE",
		"COMMIT",
		"",
	}, "\n")
}

func (n *Netfilter) restore(rules string) {
	n.t.Helper()
	cmd := n.Cmd(n.Node, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("twin: iptables-restore: %v: %s\n%s", err, out, rules)
	}
}

// IPTables runs one iptables command in the node.
func (n *Netfilter) IPTables(args ...string) error {
	_, err := n.Exec(n.Node, append([]string{"iptables", "-w"}, args...)...)
	return err
}

// AddEndpoint makes the netns Name(name) with eth0 at ip on the bridge
// and its default route via the gateway, as Docker plugs a container:
// the host side in hairpin mode (no userland proxy), IPv6 off as
// ebpfnet's endpoints have it, and direct access from outside the
// bridge dropped in the raw table (moby's filterDirectAccess).
func (n *Netfilter) AddEndpoint(name string, ip netip.Addr) (string, error) {
	ns := n.Name(name)
	a := ip.As4()
	host := fmt.Sprintf("tw%02x%02x%02x%02x", a[0], a[1], a[2], a[3])
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", n.Node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "-n", n.Node, "link", "set", host, "master", TwinBridge},
		{"ip", "-n", n.Node, "link", "set", host, "type", "bridge_slave", "hairpin", "on"},
		{"ip", "-n", n.Node, "link", "set", host, "up"},
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"},
		{"ip", "-n", ns, "addr", "add", netip.PrefixFrom(ip, n.Subnet.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", "default", "via", n.Gateway.String()},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("twin: %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return ns, n.IPTables("-t", "raw", "-A", "PREROUTING", "-d", ip.String(), "!", "-i", TwinBridge, "-j", "DROP")
}

// Port is one publication: Proto tcp, udp or sctp; HostIP zero for every
// address.
type Port struct {
	Proto    string
	HostIP   netip.Addr
	HostPort uint16
	Target   netip.AddrPort
}

// Publish does what dockerd does for `-p`: hold the host port with a
// bound socket (refused as dockerd refuses when it cannot), then the
// rules: DNAT in the DOCKER chain (from the node itself too), hairpin
// masquerade for the endpoint reaching itself, the filter rule letting the
// port in, and for a loopback address the raw rule keeping everyone but
// the node out (moby's filterPortMappedOnLoopback).
func (n *Netfilter) Publish(p Port) error {
	host := p.HostIP
	if !host.IsValid() {
		host = netip.IPv4Unspecified()
	}
	f, err := holdPort(n.Node, p.Proto, netip.AddrPortFrom(host, p.HostPort))
	if err != nil {
		return err
	}
	n.held = append(n.held, f)
	proto, ip, port := p.Proto, p.Target.Addr().String(), strconv.Itoa(int(p.Target.Port()))
	dnat := []string{"-t", "nat", "-A", "DOCKER"}
	if p.HostIP.IsValid() {
		dnat = append(dnat, "-d", p.HostIP.String())
	}
	rules := [][]string{
		{"-I", "DOCKER", "-d", ip, "!", "-i", TwinBridge, "-o", TwinBridge, "-p", proto, "-m", proto, "--dport", port, "-j", "ACCEPT"},
		{"-t", "nat", "-A", "POSTROUTING", "-s", ip, "-d", ip, "-p", proto, "-m", proto, "--dport", port, "-j", "MASQUERADE"},
		append(dnat, "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.HostPort)), "-j", "DNAT", "--to-destination", p.Target.String()),
	}
	if p.HostIP.IsLoopback() {
		rules = append(rules, []string{"-t", "raw", "-A", "PREROUTING", "-d", p.HostIP.String(), "!", "-i", "lo",
			"-p", proto, "-m", proto, "--dport", strconv.Itoa(int(p.HostPort)), "-j", "DROP"})
	}
	for _, r := range rules {
		if err := n.IPTables(r...); err != nil {
			return err
		}
	}
	return nil
}

// holdPort binds a socket to addr in a netns, as dockerd's bindHostPorts
// does: TCP listens with no backlog, UDP is bound, SCTP bound, so no
// other process of the node takes the port. A kernel without SCTP fails
// the socket call, and dockerd the publication.
func holdPort(ns, proto string, addr netip.AddrPort) (*os.File, error) {
	typ, num := map[string]int{"tcp": syscall.SOCK_STREAM, "udp": syscall.SOCK_DGRAM, "sctp": syscall.SOCK_STREAM}[proto],
		map[string]int{"tcp": syscall.IPPROTO_TCP, "udp": syscall.IPPROTO_UDP, "sctp": syscall.IPPROTO_SCTP}[proto]
	if typ == 0 {
		return nil, fmt.Errorf("unknown protocol %q", proto)
	}
	var f *os.File
	err := InNetns(ns, func() error {
		fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, num)
		if err != nil {
			return fmt.Errorf("failed to create socket for %s/%s: %w", addr, proto, err)
		}
		f = os.NewFile(uintptr(fd), "hostport")
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
			return fmt.Errorf("failed to bind host port %s/%s: %w", addr, proto, err)
		}
		if proto == "tcp" {
			return syscall.Listen(fd, 0)
		}
		return nil
	})
	if err != nil && f != nil {
		f.Close()
	}
	return f, err
}

// InNetns runs fn on a thread of its own switched into the named netns;
// sockets fn opens stay in that netns whichever thread uses them later.
// The thread is never unlocked, so it dies with its goroutine and no other
// goroutine ever runs in the wrong netns.
func InNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// release closes the held host ports before Close removes the namespaces.
func (n *Netfilter) release() {
	for _, f := range n.held {
		f.Close()
	}
}
