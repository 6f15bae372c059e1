package netdev

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Uplink is the node's device to the outside.
type Uplink struct {
	Name  string
	Index int
	MTU   int
	// FromDefaultRoute: no device was named; this is the default route's.
	FromDefaultRoute bool
}

// FindUplink is the device named, else the device of the default route;
// nil when no device is named and the node has no default route. A
// default route whose device cannot be found is an error, not "no uplink".
func (Netlink) FindUplink(name string) (*Uplink, error) {
	if name != "" {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("uplink %s: %w", name, err)
		}
		return uplinkOf(l, false), nil
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && (!r.Dst.IP.IsUnspecified() || !isZeroMask(r.Dst.Mask.Size())) {
			continue
		}
		l, err := linkByIndex(r.LinkIndex)
		if err != nil {
			return nil, fmt.Errorf("find the default route's device (ifindex %d): %w", r.LinkIndex, err)
		}
		return uplinkOf(l, true), nil
	}
	return nil, nil
}

// linkByIndex is netlink.LinkByIndex; a test stands in a device that
// vanished between the route listing and the lookup.
var linkByIndex = netlink.LinkByIndex

func isZeroMask(ones, _ int) bool { return ones == 0 }

func uplinkOf(l netlink.Link, fromRoute bool) *Uplink {
	a := l.Attrs()
	return &Uplink{Name: a.Name, Index: a.Index, MTU: a.MTU, FromDefaultRoute: fromRoute}
}

// UplinkAddr is a device's first global IPv4 address: the masquerade
// source.
func (Netlink) UplinkAddr(ifindex int) (netip.Addr, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("find uplink (ifindex %d): %w", ifindex, err)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && a.Scope == int(netlink.SCOPE_UNIVERSE) {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("uplink %s has no IPv4 address to masquerade to", l.Attrs().Name)
}

// HostNet is a destination the node routes somewhere, or an address it
// holds, and what it is, as a message names it.
type HostNet struct {
	Prefix netip.Prefix
	What   string // "route 203.0.113.0/24 dev up0", "address 198.51.100.1 on up0"
}

// HostNets is every IPv4 destination the node routes somewhere, in any
// table, and every address it holds, apart from default routes.
func (nl Netlink) HostNets() ([]HostNet, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []HostNet
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && bits > 0 {
			p := netip.PrefixFrom(a, bits).Masked()
			out = append(out, HostNet{p, "route " + p.String() + nl.onDevice(" dev ", r.LinkIndex)})
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, HostNet{netip.PrefixFrom(ip, 32), "address " + ip.String() + nl.onDevice(" on ", a.LinkIndex)})
		}
	}
	return out, nil
}

func (nl Netlink) onDevice(sep string, ifindex int) string {
	if name := nl.LinkName(ifindex); name != "" {
		return sep + name
	}
	return ""
}

// Neighbour is an address some host on a link of the node answers for.
type Neighbour struct {
	Addr   netip.Addr
	MAC    string
	Device string
}

// Neighbours lists the node's IPv4 neighbours that have a MAC: hosts on
// its links that answered.
func (nl Netlink) Neighbours() ([]Neighbour, error) {
	ns, err := netlink.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list neighbours: %w", err)
	}
	var out []Neighbour
	for _, n := range ns {
		ip, ok := netip.AddrFromSlice(n.IP.To4())
		if !ok || len(n.HardwareAddr) == 0 || n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE) != 0 {
			continue
		}
		out = append(out, Neighbour{Addr: ip, MAC: n.HardwareAddr.String(), Device: nl.LinkName(n.LinkIndex)})
	}
	return out, nil
}
