package e2e

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	ebpflink "github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// kernelView is what the kernel holds of a world's ebpfnet, read without
// the daemon.
type kernelView struct {
	links    map[string]netlink.Link     // node devices by name
	byIndex  map[int]string              // their names by ifindex
	addrs    map[string][]netip.Prefix   // their IPv4 addresses
	netns    []string                    // the world's other /run/netns entries
	inside   map[string]*insideView      // endpoint netns path -> what it holds
	progs    map[tcxKey][]ebpf.ProgramID // tcx programs by node device and hook
	filters  map[tcxKey][]string         // names of the bpf tc filters, by node device and hook
	pins     map[string]pinView          // by name under <bpffs>/links
	eps      []maps.Endpoint
	ifaces   []maps.Iface
	networks []maps.Network
	subnets  map[netip.Prefix]uint32
	ports    map[string]string // "tcp 0.0.0.0:8080" -> target
	held     map[string]bool   // stored publications whose host port a socket holds

	cgroupID    uint64
	cgroupProgs map[ebpf.AttachType][]ebpf.ProgramID
}

type tcxKey struct {
	ifindex int
	attach  ebpf.AttachType
}

// pinView is a pinned link: the device or cgroup it is on, its program.
type pinView struct {
	ifindex int
	cgroup  uint64
	prog    string
	progID  ebpf.ProgramID
}

// insideView is an endpoint's namespace: devices, addresses, default route
// ("eth0 via 10.0.0.1").
type insideView struct {
	links map[string]netlink.Link
	addrs map[string][]netip.Prefix
	route string
}

func readKernel(w *world.World, s storeView) (kernelView, error) {
	k := kernelView{netns: worldNetns(w), inside: map[string]*insideView{}, held: map[string]bool{}}
	h, err := netlinkAt("/run/netns/" + w.Node)
	if err != nil {
		return k, fmt.Errorf("open node netns: %w", err)
	}
	defer h.Close()
	if k.links, k.addrs, err = readLinks(h); err != nil {
		return k, err
	}
	k.byIndex = map[int]string{}
	for name, l := range k.links {
		k.byIndex[l.Attrs().Index] = name
	}
	for _, e := range s.eps {
		if in, err := readInside(e.Netns); err == nil {
			k.inside[e.Netns] = in
		}
	}
	errs := []error{
		world.InNetns(w.Node, func() error { return k.readNode(s) }),
		k.readMaps(w.BPFFS),
		k.readPins(filepath.Join(w.BPFFS, loader.LinkDir)),
		k.readCgroup(w.Cgroup),
	}
	return k, errors.Join(errs...)
}

func readLinks(h *netlink.Handle) (map[string]netlink.Link, map[string][]netip.Prefix, error) {
	ls, err := h.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("list devices: %w", err)
	}
	links, addrs := map[string]netlink.Link{}, map[string][]netip.Prefix{}
	for _, l := range ls {
		links[l.Attrs().Name] = l
		as, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, nil, fmt.Errorf("addresses of %s: %w", l.Attrs().Name, err)
		}
		for _, a := range as {
			ip, _ := netip.AddrFromSlice(a.IP.To4())
			bits, _ := a.Mask.Size()
			addrs[l.Attrs().Name] = append(addrs[l.Attrs().Name], netip.PrefixFrom(ip, bits))
		}
	}
	return links, addrs, nil
}

// readInside reads an endpoint's namespace; an error if the path holds
// none.
func readInside(path string) (*insideView, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return nil, fmt.Errorf("%s is not a namespace", path)
	}
	h, err := netlinkAt(path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	in := &insideView{}
	if in.links, in.addrs, err = readLinks(h); err != nil {
		return nil, err
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if ones, _ := maskOf(r); ones == 0 && r.Gw != nil {
			for name, l := range in.links {
				if l.Attrs().Index == r.LinkIndex {
					in.route = name + " via " + r.Gw.String()
				}
			}
		}
	}
	return in, nil
}

func maskOf(r netlink.Route) (int, int) {
	if r.Dst == nil {
		return 0, 32
	}
	return r.Dst.Mask.Size()
}

// readNode reads, on a thread in the node netns, the tcx programs of every
// device and whether a socket holds each stored publication's host port.
func (k *kernelView) readNode(s storeView) error {
	k.progs = map[tcxKey][]ebpf.ProgramID{}
	for _, l := range k.links {
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			res, err := ebpflink.QueryPrograms(ebpflink.QueryOptions{Target: l.Attrs().Index, Attach: at})
			if err != nil {
				return fmt.Errorf("query tcx of %s: %w", l.Attrs().Name, err)
			}
			for _, p := range res.Programs {
				k.progs[tcxKey{l.Attrs().Index, at}] = append(k.progs[tcxKey{l.Attrs().Index, at}], p.ID)
			}
		}
	}
	k.filters = map[tcxKey][]string{}
	for _, l := range k.links {
		for at, parent := range map[ebpf.AttachType]uint32{ebpf.AttachTCXIngress: netlink.HANDLE_MIN_INGRESS,
			ebpf.AttachTCXEgress: netlink.HANDLE_MIN_EGRESS} {
			fs, err := netlink.FilterList(l, parent)
			if err != nil {
				continue // no clsact qdisc: no filters
			}
			for _, f := range fs {
				if bf, ok := f.(*netlink.BpfFilter); ok {
					k.filters[tcxKey{l.Attrs().Index, at}] = append(k.filters[tcxKey{l.Attrs().Index, at}], bf.Name)
				}
			}
		}
	}
	for _, p := range s.ports {
		k.held[fmt.Sprintf("%s %s:%d", p.Proto, p.HostIP, p.HostPort)] = portHeld(p.Proto, p.HostIP, p.HostPort)
	}
	return nil
}

// portHeld says whether binding a host port fails because a socket has it.
func portHeld(proto, ip string, port uint16) bool {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return errors.Is(unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: netip.MustParseAddr(ip).As4()}), unix.EADDRINUSE)
}

func (k *kernelView) readMaps(bpffs string) error {
	open := func(name string) *ebpf.Map {
		m, err := ebpf.LoadPinnedMap(filepath.Join(bpffs, name), nil)
		if err != nil {
			return nil
		}
		return m
	}
	names := []string{loader.EnetMapEnetEndpoints, loader.EnetMapEnetIfaces, loader.EnetMapEnetNetworks,
		loader.EnetMapEnetSubnets, loader.EnetMapEnetPorts}
	ms := make([]*ebpf.Map, len(names))
	for i, n := range names {
		if ms[i] = open(n); ms[i] == nil {
			return fmt.Errorf("open pinned map %s", n)
		}
		defer ms[i].Close()
	}
	var errs [5]error
	k.eps, errs[0] = maps.Endpoints{Map: ms[0]}.All()
	k.ifaces, errs[1] = maps.Ifaces{Map: ms[1]}.All()
	nets := maps.Networks{Networks: ms[2], Subnets: ms[3]}
	k.networks, errs[2] = nets.All()
	k.subnets, errs[3] = nets.SubnetEntries()
	var ports []maps.Port
	ports, errs[4] = maps.Ports{Map: ms[4]}.All()
	k.ports = map[string]string{}
	for _, p := range ports {
		ip, proto := "0.0.0.0", "tcp"
		if p.HostIP.IsValid() {
			ip = p.HostIP.String()
		}
		switch p.Proto {
		case unix.IPPROTO_UDP:
			proto = "udp"
		case unix.IPPROTO_SCTP:
			proto = "sctp"
		}
		k.ports[fmt.Sprintf("%s %s:%d", proto, ip, p.HostPort)] = p.Target.String()
	}
	return errors.Join(errs[:]...)
}

func (k *kernelView) readPins(dir string) error {
	k.pins = map[string]pinView{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read link pins: %w", err)
	}
	for _, e := range entries {
		l, err := ebpflink.LoadPinnedLink(filepath.Join(dir, e.Name()), nil)
		if err != nil {
			return fmt.Errorf("open pinned link %s: %w", e.Name(), err)
		}
		info, err := l.Info()
		_ = l.Close()
		if err != nil {
			return fmt.Errorf("info of pinned link %s: %w", e.Name(), err)
		}
		pv := pinView{progID: info.Program, prog: loader.ProgramName(info.Program)}
		if tcx := info.TCX(); tcx != nil {
			pv.ifindex = int(tcx.Ifindex)
		}
		if cg := info.Cgroup(); cg != nil {
			pv.cgroup = cg.CgroupId
		}
		k.pins[e.Name()] = pv
	}
	return nil
}

func (k *kernelView) readCgroup(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("stat cgroup: %w", err)
	}
	k.cgroupID = st.Ino
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	defer f.Close()
	k.cgroupProgs = map[ebpf.AttachType][]ebpf.ProgramID{}
	for _, h := range sockHooks {
		res, err := ebpflink.QueryPrograms(ebpflink.QueryOptions{Target: int(f.Fd()), Attach: h.attach})
		if err != nil {
			return fmt.Errorf("query cgroup %s: %w", h.attach, err)
		}
		for _, p := range res.Programs {
			k.cgroupProgs[h.attach] = append(k.cgroupProgs[h.attach], p.ID)
		}
	}
	return nil
}
