package datapath

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/ebpfnet/ebpfnet/loader"
)

// setupUplink turns on forwarding, tells the datapath the uplink and its
// address, and puts the uplink programs on it. Without an uplink nothing
// is masqueraded and endpoints reach only the node.
func (m *Manager) setupUplink() error {
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	cfg, err := m.maps.Config.Get()
	if err != nil {
		return err
	}
	cfg.PortMin, cfg.PortMax = m.cfg.PortMin, m.cfg.PortMax
	m.cfg.CTTimeouts.Apply(&cfg)
	cfg.UplinkIfindex, cfg.SnatIp = 0, [4]byte{}
	if m.uplink != nil {
		addr, err := uplinkAddr(m.uplink)
		if err != nil {
			return err
		}
		cfg.UplinkIfindex, cfg.SnatIp = uint32(m.uplink.Attrs().Index), addr.As4()
		m.log.Info("masquerading out of the uplink", zapIf(m.uplink.Attrs().Name), zapStr("address", addr.String()))
	}
	if err := m.maps.Config.Set(cfg); err != nil {
		return err
	}
	if m.uplink == nil {
		return nil
	}
	name, idx := m.uplink.Attrs().Name, m.uplink.Attrs().Index
	if err := m.attach(m.dp.EnetFromUp, name, idx, loader.Ingress); err != nil {
		return err
	}
	err = m.attach(m.dp.EnetToUp, name, idx, loader.Egress)
	return err
}

// uplinkAddr is the uplink's first IPv4 address: the masquerade source.
func uplinkAddr(l netlink.Link) (netip.Addr, error) {
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
