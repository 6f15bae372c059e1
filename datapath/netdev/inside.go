package netdev

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// InsideState is an interface as its namespace sees it: what a CNI CHECK
// compares with what ebpfnet set up.
type InsideState struct {
	MAC   string
	Up    bool
	Addrs []netip.Prefix // IPv4
	// Gateway is the next hop of the namespace's default route through
	// this interface; invalid when it has none.
	Gateway netip.Addr
}

// Inside reads an interface inside a namespace.
func (Netlink) Inside(netnsPath, ifname string) (InsideState, error) {
	var st InsideState
	ns, err := openNetns(netnsPath)
	if err != nil {
		return st, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return st, fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifname)
	if err != nil {
		return st, fmt.Errorf("%s in %s: %w", ifname, netnsPath, err)
	}
	st.MAC, st.Up = link.Attrs().HardwareAddr.String(), link.Attrs().Flags&net.FlagUp != 0
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("addresses of %s in %s: %w", ifname, netnsPath, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok {
			st.Addrs = append(st.Addrs, netip.PrefixFrom(ip, ones))
		}
	}
	routes, err := h.RouteList(link, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("routes of %s in %s: %w", ifname, netnsPath, err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			st.Gateway, _ = netip.AddrFromSlice(r.Gw.To4())
		}
	}
	return st, nil
}
