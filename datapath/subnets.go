package datapath

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// defaultPools is where networks without --subnet get theirs, in Docker's
// order: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
func defaultPools() []netip.Prefix {
	var out []netip.Prefix
	for b := 17; b <= 31; b++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(b), 0, 0}), 16))
	}
	for c := 0; c < 256; c += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(c), 0}), 20))
	}
	return out
}

// hostPrefixes is every IPv4 destination the node routes somewhere, in any
// table, and every address it holds, apart from default routes.
func hostPrefixes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		bits, _ := r.Dst.Mask.Size()
		if a, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && bits > 0 {
			out = append(out, netip.PrefixFrom(a, bits).Masked())
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, netip.PrefixFrom(ip, 32))
		}
	}
	return out, nil
}

// freeSubnet picks the first default pool that overlaps no network and no
// route or address of the node.
func (m *Manager) freeSubnet(existing []store.Network) (netip.Prefix, error) {
	taken, err := hostPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	for _, n := range existing {
		taken = append(taken, n.Subnet)
	}
next:
	for _, p := range defaultPools() {
		for _, t := range taken {
			if p.Overlaps(t) {
				continue next
			}
		}
		return p, nil
	}
	return netip.Prefix{}, errdefs.Limit("no free subnet left in the default pools; pass --subnet")
}
