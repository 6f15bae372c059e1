package netdev

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Veth is an endpoint interface: a veth pair with its host side in the
// daemon's namespace and its peer, under its final name and MAC, in the
// endpoint's.
type Veth struct {
	Host    string // host side
	Alias   string // the host side's, which makes it ebpfnet's
	Peer    string // inside the endpoint: eth0, eth1, ...
	PeerMAC net.HardwareAddr
	MTU     int
	Netns   string // the endpoint's namespace, by path; empty: the daemon's (a handoff)
}

// EnsureVeth makes the pair exist, down on the host side, and returns the
// host side's ifindex. A host side of that name that is not ebpfnet's is
// an error. Idempotent.
func (Netlink) EnsureVeth(v Veth) (int, error) {
	if l, err := netlink.LinkByName(v.Host); err == nil {
		ours, err := claim(l, "veth", v.Alias)
		if err == nil && !ours {
			err = fmt.Errorf("device %s exists and is not ebpfnet's", v.Host)
		}
		return l.Attrs().Index, err
	} else if !IsNotFound(err) {
		return 0, fmt.Errorf("find %s: %w", v.Host, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Alias = v.Host, v.MTU, v.Alias
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         v.Peer,
		PeerHardwareAddr: v.PeerMAC,
		PeerMTU:          uint32(v.MTU),
	}
	if v.Netns != "" {
		ns, err := openNetns(v.Netns)
		if err != nil {
			return 0, err
		}
		defer ns.Close()
		veth.PeerNamespace = netlink.NsFd(int(ns))
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, os.ErrExist) || errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("create veth %s: %s already exists in %s: %w", v.Host, v.Peer, v.Netns, err)
		}
		return 0, fmt.Errorf("create veth %s: %w", v.Host, err)
	}
	l, err := netlink.LinkByName(v.Host)
	if err != nil {
		return 0, fmt.Errorf("find %s: %w", v.Host, err)
	}
	if _, err := claim(l, "veth", v.Alias); err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// PlugVeth puts a host side on its bridge and brings it up.
func (Netlink) PlugVeth(host, bridge string) error {
	l, err := netlink.LinkByName(host)
	if err != nil {
		return fmt.Errorf("find %s: %w", host, err)
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", bridge, err)
	}
	if l.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
			return fmt.Errorf("add %s to %s: %w", host, bridge, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", host, err)
	}
	return nil
}

// Inside is an interface as the endpoint sees it.
type Inside struct {
	Netns   string
	Ifname  string
	Addr    netip.Prefix // address with the subnet's length
	Gateway netip.Addr   // the default route's; the zero Addr for none
}

// ConfigureInside sets up the endpoint side: IPv6 off (the networks are
// IPv4), lo and the interface up, the address, and the default route via
// the gateway if it has one.
func (Netlink) ConfigureInside(in Inside) error {
	if err := configureInside(in); err != nil {
		return fmt.Errorf("configure %s in %s: %w", in.Ifname, in.Netns, err)
	}
	return nil
}

func configureInside(in Inside) error {
	return atNetns(in.Netns, func(h *netlink.Handle, ns netns.NsHandle) error { return configureIn(h, ns, in) })
}

func configureIn(h *netlink.Handle, ns netns.NsHandle, in Inside) error {
	link, err := h.LinkByName(in.Ifname)
	if err != nil {
		return fmt.Errorf("find %s: %w", in.Ifname, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo) // best effort: the endpoint works without it
	}
	err = inNetns(ns, func() error {
		err := WriteSysctl("net/ipv6/conf/"+in.Ifname+"/disable_ipv6", "1")
		if errors.Is(err, os.ErrNotExist) {
			return nil // kernel without IPv6
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: PrefixNet(in.Addr)}); err != nil {
		return fmt.Errorf("add address %s: %w", in.Addr.Addr(), err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", in.Ifname, err)
	}
	if !in.Gateway.IsValid() {
		return nil
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: in.Gateway.AsSlice()}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("add default route via %s: %w", in.Gateway, err)
	}
	return nil
}

// FreeIfname is the first ethN inside a namespace that is neither taken
// nor used by anything else there.
func (Netlink) FreeIfname(netnsPath string, taken map[string]bool) (string, error) {
	free := ""
	err := atNetns(netnsPath, func(h *netlink.Handle, _ netns.NsHandle) error {
		for i := range 1000 {
			name := "eth" + strconv.Itoa(i)
			if _, err := h.LinkByName(name); taken[name] || err == nil {
				continue
			}
			free = name
			return nil
		}
		return ErrNoFreeIfname
	})
	return free, err
}

// ErrNoFreeIfname: eth0 to eth999 are all taken.
var ErrNoFreeIfname = errors.New("no free interface name")
