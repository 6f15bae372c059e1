package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/maps"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// mustBeConsistent fails the test with every way the daemon's store and
// the kernel disagree.
func mustBeConsistent(t *testing.T, w *world.World) {
	t.Helper()
	if d := inconsistencies(t, w); len(d) > 0 {
		t.Fatalf("store and kernel disagree:\n  %s", strings.Join(d, "\n  "))
	}
}

// inconsistencies compares what the running daemon's store holds, read
// through the API, with what the kernel holds, read directly (netlink in
// the node and endpoint namespaces, the pinned maps and links, tcx and
// cgroup queries, tc filters, binds of the published ports). It checks
// the tcx and auto attach modes: tc filters on endpoint veths only.
func inconsistencies(t *testing.T, w *world.World) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := readStore(ctx, api.NewClient(w.Socket))
	if err != nil {
		t.Fatalf("read the store through the API: %v", err)
	}
	k, err := readKernel(w, s)
	if err != nil {
		t.Fatalf("read the kernel: %v", err)
	}
	c := &checker{s: s, k: k, w: w}
	c.networks()
	c.endpoints()
	c.ports()
	c.strays()
	return c.found
}

// storeView is the store as the API shows it.
type storeView struct {
	nets  []api.Network
	eps   []api.Endpoint
	ports []api.Port
	// endpointTC: the daemon attaches enet_from_ep as a tc filter, as
	// --attach auto and tc do, not as a tcx link.
	endpointTC bool
}

func readStore(ctx context.Context, cl *api.Client) (storeView, error) {
	var s storeView
	var err1, err2, err3 error
	s.nets, err1 = cl.Networks(ctx)
	s.eps, err2 = cl.Endpoints(ctx)
	s.ports, err3 = cl.Ports(ctx, "")
	st, err4 := cl.Status(ctx)
	if err4 == nil {
		s.endpointTC = st.AttachMode == "tc" || strings.Contains(st.AttachMode, "endpoint veths tc")
	}
	return s, errors.Join(err1, err2, err3, err4)
}

func (s storeView) network(name string) (api.Network, bool) {
	i := slices.IndexFunc(s.nets, func(n api.Network) bool { return n.Name == name })
	if i < 0 {
		return api.Network{}, false
	}
	return s.nets[i], true
}

// checker collects discrepancies.
type checker struct {
	s     storeView
	k     kernelView
	w     *world.World
	hosts map[string]bool // the store's host-side devices
	found []string
}

func (c *checker) addf(format string, args ...any) {
	c.found = append(c.found, fmt.Sprintf(format, args...))
}

// device checks a node device the store names: its kind, ebpfnet's alias,
// up, and (master > 0) its bridge.
func (c *checker) device(name, kind, alias string, master int) (netlink.Link, bool) {
	l, ok := c.k.links[name]
	if !ok {
		c.addf("%s %s (%s) is in the store but not in the node", kind, name, alias)
		return nil, false
	}
	a := l.Attrs()
	if l.Type() != kind || a.Alias != alias || a.Flags&unix.IFF_UP == 0 {
		c.addf("device %s is a %s, alias %q, flags %v; want a %s, alias %q, up", name, l.Type(), a.Alias, a.Flags, kind, alias)
	}
	if master > 0 && a.MasterIndex != master {
		c.addf("%s %s has master ifindex %d, want its bridge's %d", kind, name, a.MasterIndex, master)
	}
	return l, true
}

func (c *checker) networks() {
	seen := map[uint32]string{}
	for _, n := range c.s.nets {
		if other, dup := seen[n.ID]; dup {
			c.addf("networks %s and %s share id %d", other, n.Name, n.ID)
		}
		seen[n.ID] = n.Name
		br, ok := c.device(n.Bridge, "bridge", "ebpfnet:network:"+n.Name, 0)
		if !ok {
			continue
		}
		subnet := netip.MustParsePrefix(n.Subnet)
		gw := netip.PrefixFrom(netip.MustParseAddr(n.Gateway), subnet.Bits())
		if !slices.Contains(c.k.addrs[n.Bridge], gw) {
			c.addf("bridge %s of %s holds %v, not the gateway %s", n.Bridge, n.Name, c.k.addrs[n.Bridge], gw)
		}
		c.networkEntry(n, subnet, br.Attrs().Index)
		c.tcx(n.Bridge, br.Attrs().Index, ebpf.AttachTCXEgress, "enet_to_br")
	}
	for _, e := range c.k.networks {
		if _, ok := seen[e.ID]; !ok {
			c.addf("enet_networks holds id %d (%s) the store does not know", e.ID, e.Subnet)
		}
	}
	for p, id := range c.k.subnets {
		if name, ok := seen[id]; !ok || c.mustNetwork(name).Subnet != p.String() {
			c.addf("enet_subnets holds %s -> %d the store does not know", p, id)
		}
	}
}

func (c *checker) mustNetwork(name string) api.Network {
	n, _ := c.s.network(name)
	return n
}

func (c *checker) networkEntry(n api.Network, subnet netip.Prefix, bridge int) {
	i := slices.IndexFunc(c.k.networks, func(e maps.Network) bool { return e.ID == n.ID })
	if i < 0 {
		c.addf("network %s (id %d) is not in enet_networks", n.Name, n.ID)
	} else if e := c.k.networks[i]; e.Subnet != subnet || e.Gateway.String() != n.Gateway || e.BridgeIfindex != bridge ||
		e.ICC != n.ICC || e.Internal != n.Internal || e.Masquerade != n.Masquerade {
		c.addf("enet_networks[%d] is %+v; the store has %s gw %s bridge #%d icc %v internal %v masquerade %v",
			n.ID, e, subnet, n.Gateway, bridge, n.ICC, n.Internal, n.Masquerade)
	}
	if id, ok := c.k.subnets[subnet]; !ok || id != n.ID {
		c.addf("enet_subnets[%s] is %d (present %v), want %d", subnet, id, ok, n.ID)
	}
}

func (c *checker) endpoints() {
	ips := map[string]string{}
	c.hosts = map[string]bool{}
	for _, e := range c.s.eps {
		for _, i := range e.Interfaces {
			c.hosts[i.HostName] = e.State != "gone"
		}
	}
	for _, e := range c.s.eps {
		switch e.State {
		case "gone":
			// Its namespace went away: nothing of it is in the kernel,
			// its addresses stay its own.
			for _, ifc := range e.Interfaces {
				ips[ifc.IP] = e.Name
			}
			continue
		case "ready":
		default:
			c.addf("endpoint %s is %s", e.Name, e.State)
		}
		in, ok := c.k.inside[e.Netns]
		if !ok {
			c.addf("netns %s of endpoint %s is not a network namespace", e.Netns, e.Name)
		}
		for i, ifc := range e.Interfaces {
			if other, dup := ips[ifc.IP]; dup {
				c.addf("address %s is both %s's and %s's", ifc.IP, other, e.Name)
			}
			ips[ifc.IP] = e.Name
			c.iface(e, ifc, in, i == 0)
		}
		if ok {
			c.strayInside(e, in)
		}
	}
	for _, m := range c.k.eps {
		if owner, ok := ips[m.IP.String()]; !ok || c.gone(owner) {
			c.addf("enet_endpoints holds %s (ifindex %d) the store does not know", m.IP, m.Ifindex)
		}
	}
	for _, m := range c.k.ifaces {
		if name := c.k.byIndex[m.Ifindex]; !c.hosts[name] {
			c.addf("enet_ifaces holds ifindex %d (%q, %s) the store does not know", m.Ifindex, name, m.IP)
		}
	}
}

func (c *checker) iface(e api.Endpoint, ifc api.Interface, in *insideView, first bool) {
	n, ok := c.s.network(ifc.Network)
	if !ok {
		c.addf("endpoint %s is on network %s the store does not have", e.Name, ifc.Network)
		return
	}
	br := c.k.links[n.Bridge]
	master := -1
	if br != nil {
		master = br.Attrs().Index
	}
	host, ok := c.device(ifc.HostName, "veth", "ebpfnet:endpoint:"+e.Name+":"+ifc.Name, master)
	ip := netip.MustParseAddr(ifc.IP)
	subnet := netip.MustParsePrefix(n.Subnet)
	if !subnet.Contains(ip) || ifc.IP == n.Gateway {
		c.addf("%s of %s has %s: not a host address of %s", ifc.Name, e.Name, ip, subnet)
	}
	if !ok {
		return
	}
	idx := host.Attrs().Index
	c.ifaceMaps(e, ifc, n, idx)
	c.ifaceProgram(ifc.HostName, idx)
	if in != nil {
		c.peer(e, ifc, in, netip.PrefixFrom(ip, subnet.Bits()), host)
		if first {
			c.defaultRoute(e, ifc, in, n.Gateway)
		}
	}
}

func (c *checker) ifaceMaps(e api.Endpoint, ifc api.Interface, n api.Network, idx int) {
	want := fmt.Sprintf("%s #%d net %d %s", ifc.IP, idx, n.ID, ifc.MAC)
	i := slices.IndexFunc(c.k.eps, func(m maps.Endpoint) bool { return m.IP.String() == ifc.IP })
	if i < 0 {
		c.addf("%s of %s (%s) is not in enet_endpoints", ifc.Name, e.Name, ifc.IP)
	} else if m := c.k.eps[i]; fmt.Sprintf("%s #%d net %d %s", m.IP, m.Ifindex, m.NetID, m.MAC) != want {
		c.addf("enet_endpoints[%s] is %s #%d net %d %s, want %s", m.IP, m.IP, m.Ifindex, m.NetID, m.MAC, want)
	}
	i = slices.IndexFunc(c.k.ifaces, func(m maps.Iface) bool { return m.Ifindex == idx })
	if i < 0 {
		c.addf("host side %s (#%d) of %s is not in enet_ifaces", ifc.HostName, idx, e.Name)
	} else if m := c.k.ifaces[i]; fmt.Sprintf("%s #%d net %d %s", m.IP, m.Ifindex, m.NetID, m.MAC) != want {
		c.addf("enet_ifaces[%d] is %s net %d %s, want %s", idx, m.IP, m.NetID, m.MAC, want)
	}
}

// ifaceProgram: the pinned tcx link of a host side holds enet_from_ep on
// its ingress, or, in tc mode and auto's, one tc filter does; and that
// is all the device runs.
func (c *checker) ifaceProgram(host string, idx int) {
	if c.s.endpointTC {
		c.tcFilter(host, idx)
	} else {
		c.tcx(host, idx, ebpf.AttachTCXIngress, "enet_from_ep")
	}
	if got := c.k.progs[tcxKey{idx, ebpf.AttachTCXEgress}]; len(got) > 0 {
		c.addf("%s runs %v on egress, want nothing", host, got)
	}
	if got := c.k.filters[tcxKey{idx, ebpf.AttachTCXEgress}]; len(got) > 0 {
		c.addf("%s has tc filters %v on egress, want none", host, got)
	}
}

// tcFilter: one tc filter, enet_from_ep in direct action, on the host
// side's ingress, and no tcx program or link pin beside it.
func (c *checker) tcFilter(host string, idx int) {
	got := c.k.filters[tcxKey{idx, ebpf.AttachTCXIngress}]
	if len(got) != 1 || got[0] != "enet_from_ep" {
		c.addf("%s (#%d) has tc filters %v on ingress, want only enet_from_ep", host, idx, got)
	}
	if progs := c.k.progs[tcxKey{idx, ebpf.AttachTCXIngress}]; len(progs) > 0 {
		c.addf("%s (#%d) runs tcx programs %v beside its tc filter", host, idx, progs)
	}
	if _, ok := c.k.pins[host+"_ingress"]; ok {
		c.addf("a link is pinned at links/%s_ingress beside the tc filter", host)
	}
}

func (c *checker) tcx(dev string, idx int, at ebpf.AttachType, prog string) {
	name := dev + "_ingress"
	if at == ebpf.AttachTCXEgress {
		name = dev + "_egress"
	}
	pin, ok := c.k.pins[name]
	switch {
	case !ok:
		c.addf("no link pinned at links/%s", name)
	case pin.ifindex != idx || pin.prog != prog:
		c.addf("link pinned at links/%s holds %s on ifindex %d, want %s on %d", name, pin.prog, pin.ifindex, prog, idx)
	}
	got := c.k.progs[tcxKey{idx, at}]
	if len(got) != 1 || (ok && got[0] != pin.progID) {
		c.addf("%s (#%d) runs programs %v on %s, want only %s (id %d) of the pin", dev, idx, got, at, prog, pin.progID)
	}
}

// peer: the endpoint side is the host side's peer, with its name, MAC
// and address, up.
func (c *checker) peer(e api.Endpoint, ifc api.Interface, in *insideView, addr netip.Prefix, host netlink.Link) {
	l, ok := in.links[ifc.Name]
	if !ok {
		c.addf("%s of %s is not in netns %s", ifc.Name, e.Name, e.Netns)
		return
	}
	a := l.Attrs()
	if l.Type() != "veth" || a.Index != host.Attrs().ParentIndex || a.ParentIndex != host.Attrs().Index {
		c.addf("%s in %s (#%d, peer #%d) is not the peer of %s (#%d, peer #%d)",
			ifc.Name, e.Name, a.Index, a.ParentIndex, ifc.HostName, host.Attrs().Index, host.Attrs().ParentIndex)
	}
	if a.HardwareAddr.String() != ifc.MAC || a.Flags&unix.IFF_UP == 0 {
		c.addf("%s in %s has MAC %s, flags %v; want %s, up", ifc.Name, e.Name, a.HardwareAddr, a.Flags, ifc.MAC)
	}
	if got := in.addrs[ifc.Name]; len(got) != 1 || got[0] != addr {
		c.addf("%s in %s holds %v, want %s", ifc.Name, e.Name, got, addr)
	}
}

func (c *checker) defaultRoute(e api.Endpoint, ifc api.Interface, in *insideView, gw string) {
	if want := ifc.Name + " via " + gw; in.route != want {
		c.addf("default route of %s is %q, want %q", e.Name, in.route, want)
	}
}

// strayInside: every veth in an endpoint's netns is one the store has.
func (c *checker) strayInside(e api.Endpoint, in *insideView) {
	for name, l := range in.links {
		if l.Type() == "veth" && !slices.ContainsFunc(e.Interfaces, func(i api.Interface) bool { return i.Name == name }) {
			c.addf("netns of %s holds veth %s the store does not know", e.Name, name)
		}
	}
}

// gone says whether the store holds an endpoint as gone.
func (c *checker) gone(name string) bool {
	return slices.ContainsFunc(c.s.eps, func(e api.Endpoint) bool { return e.Name == name && e.State == "gone" })
}

// ports: every publication is in enet_ports with its host port held, but
// a gone endpoint's, whose host port is let go, and a parked one (its
// endpoint has no interface), which leads nowhere and is not there.
func (c *checker) ports() {
	targets := map[string]string{}
	for _, e := range c.s.eps {
		if len(e.Interfaces) > 0 {
			targets[e.Name] = e.Interfaces[0].IP
		}
	}
	keys := map[string]bool{}
	for i, p := range c.s.ports {
		key := fmt.Sprintf("%s %s:%d", p.Proto, p.HostIP, p.HostPort)
		keys[key] = true
		for _, q := range c.s.ports[:i] {
			if q.Proto == p.Proto && q.HostPort == p.HostPort && (q.HostIP == p.HostIP || q.HostIP == "0.0.0.0" || p.HostIP == "0.0.0.0") {
				c.addf("host port %s is published twice (%s and %s)", key, q.Endpoint, p.Endpoint)
			}
		}
		if _, ok := targets[p.Endpoint]; !ok {
			if p.Target != "" {
				c.addf("publication %s of %s, which has no interface, leads to %s", key, p.Endpoint, p.Target)
			}
			if got, ok := c.k.ports[key]; ok {
				c.addf("enet_ports[%s] leads to %s, but it is parked", key, got)
			}
			keys[key] = false
			continue
		}
		want := fmt.Sprintf("%s:%d", targets[p.Endpoint], p.ContainerPort)
		if p.Target != want {
			c.addf("publication %s leads to %s, but %s's first address is %s", key, p.Target, p.Endpoint, targets[p.Endpoint])
		}
		if got, ok := c.k.ports[key]; !ok {
			c.addf("publication %s -> %s (%s) is not in enet_ports", key, p.Target, p.Endpoint)
		} else if got != p.Target {
			c.addf("enet_ports[%s] leads to %s, the store to %s", key, got, p.Target)
		}
		if !c.k.held[key] && !c.gone(p.Endpoint) {
			c.addf("host port %s of %s is not held by a socket of the daemon", key, p.Endpoint)
		}
	}
	for key, target := range c.k.ports {
		if known, ok := keys[key]; !ok || !known {
			c.addf("enet_ports holds %s -> %s the store does not know", key, target)
		}
	}
}

// strays: every device, pin and namespace that looks like ebpfnet's is one
// the store has.
func (c *checker) strays() {
	want := map[string]bool{defragDev: true}
	pins := map[string]bool{world.UplinkDev + "_ingress": true, world.UplinkDev + "_egress": true, world.UplinkDev + "_xdp": true,
		defragDev + "_ingress": true, "defrag": true}
	for _, h := range sockHooks {
		pins[h.name] = true
	}
	for _, n := range c.s.nets {
		want[n.Bridge] = true
		pins[n.Bridge+"_egress"] = true
	}
	netnsOf := map[string]bool{}
	for _, e := range c.s.eps {
		netnsOf[e.Netns] = true
		for _, i := range e.Interfaces {
			want[i.HostName] = true
			pins[i.HostName+"_ingress"] = true
		}
	}
	for name, l := range c.k.links {
		a := l.Attrs()
		ours := strings.HasPrefix(a.Alias, "ebpfnet:") || strings.HasPrefix(name, "enetv") || strings.HasPrefix(name, "enet-")
		if ours && !want[name] {
			c.addf("device %s (alias %q) is in the node but not in the store", name, a.Alias)
		}
	}
	for name := range c.k.pins {
		if !pins[name] {
			c.addf("links/%s is pinned but the store knows no such device", name)
		}
	}
	for _, ns := range c.k.netns {
		if !netnsOf[ns] {
			c.addf("netns %s is not any endpoint's", ns)
		}
	}
	c.uplinkAndSockets()
}

// defragDev is the node side of the daemon's defragmentation helper's
// veth.
const defragDev = "enetdfrg0"

func (c *checker) uplinkAndSockets() {
	up := c.k.links[world.UplinkDev]
	c.tcx(world.UplinkDev, up.Attrs().Index, ebpf.AttachTCXIngress, "enet_from_up")
	c.tcx(world.UplinkDev, up.Attrs().Index, ebpf.AttachTCXEgress, "enet_to_up")
	if df, ok := c.k.links[defragDev]; !ok {
		c.addf("no %s: the defragmentation helper is missing", defragDev)
	} else {
		c.tcx(defragDev, df.Attrs().Index, ebpf.AttachTCXIngress, "enet_from_dfrg")
	}
	if pin, ok := c.k.pins["defrag"]; !ok || pin.prog != "enet_defrag" {
		c.addf("links/defrag: pinned %v, holds %q; want the helper's netfilter link to enet_defrag", ok, pin.prog)
	}
	for _, h := range sockHooks {
		pin, ok := c.k.pins[h.name]
		if !ok || pin.cgroup != c.k.cgroupID || pin.prog != h.prog {
			c.addf("links/%s: pinned %v, holds %s on cgroup %d; want %s on the world's cgroup %d",
				h.name, ok, pin.prog, pin.cgroup, h.prog, c.k.cgroupID)
		}
		if !slices.Contains(c.k.cgroupProgs[h.attach], pin.progID) {
			c.addf("the world's cgroup does not run %s on %s (it runs %v)", h.prog, h.attach, c.k.cgroupProgs[h.attach])
		}
	}
}

// sockHooks are the cgroup links the daemon pins, as loader.SockHooks.
var sockHooks = []struct {
	name, prog string
	attach     ebpf.AttachType
}{
	{"cgroup_connect4", "enet_sock_conn4", ebpf.AttachCGroupInet4Connect},
	{"cgroup_sendmsg4", "enet_sock_send4", ebpf.AttachCGroupUDP4Sendmsg},
	{"cgroup_recvmsg4", "enet_sock_recv4", ebpf.AttachCGroupUDP4Recvmsg},
	{"cgroup_getpeername4", "enet_sock_peer4", ebpf.AttachCgroupInet4GetPeername},
}

// worldNetns lists the world's entries under /run/netns but its own two.
func worldNetns(w *world.World) []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), w.ID) && e.Name() != w.Node && e.Name() != w.Ext {
			out = append(out, filepath.Join("/run/netns", e.Name()))
		}
	}
	return out
}

// netlinkAt is a netlink handle in the namespace at path (a /run/netns
// entry or a /proc/PID/ns/net), or in the machine's own for "". Its sockets
// stay in that namespace, so the namespace handle is let go at once.
func netlinkAt(path string) (*netlink.Handle, error) {
	if path == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}
