package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// ensureIface makes the kernel hold one endpoint interface: the veth pair,
// the datapath's view of it, the program on its host side, and its address
// and routes inside the namespace. Idempotent. The order keeps the datapath
// closed: the host side comes up only after enet_ifaces knows it and the
// program is on it, and others reach it only once it is configured.
func (m *Manager) ensureIface(ep *store.Endpoint, ifc *store.Interface, n *store.Network, ns netns.NsHandle) error {
	mac, err := net.ParseMAC(ifc.MAC)
	if err != nil {
		return fmt.Errorf("endpoint %s: bad MAC %q: %w", ep.Name, ifc.MAC, err)
	}
	host, err := ensureVeth(ep, ifc, n, ns, mac)
	if err != nil {
		return err
	}
	idx := host.Attrs().Index
	if err := m.maps.Ifaces.Put(maps.Iface{Ifindex: idx, IP: ifc.IP, NetID: n.ID, MAC: mac}); err != nil {
		return err
	}
	if err := m.attach(m.dp.EnetFromEp, ifc.HostName, idx, loader.Ingress); err != nil {
		return err
	}
	if err := plugHost(host, n); err != nil {
		return err
	}
	if err := configureInside(ns, ifc, n, ep.Interfaces[0].Network == ifc.Network); err != nil {
		return fmt.Errorf("configure %s in %s: %w", ifc.Name, ep.Netns, err)
	}
	return m.maps.Endpoints.Put(maps.Endpoint{IP: ifc.IP, Ifindex: idx, NetID: n.ID, MAC: mac})
}

// ensureVeth returns the host side of the pair, creating the pair with the
// peer already in the endpoint's namespace under its final name.
func ensureVeth(ep *store.Endpoint, ifc *store.Interface, n *store.Network, ns netns.NsHandle, mac net.HardwareAddr) (netlink.Link, error) {
	alias := vethAlias(ep.Name, ifc.Name)
	if l, err := netlink.LinkByName(ifc.HostName); err == nil {
		ours, err := claim(l, "veth", alias)
		if err == nil && !ours {
			err = fmt.Errorf("device %s exists and is not ebpfnet's", ifc.HostName)
		}
		return l, err
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("find %s: %w", ifc.HostName, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Alias = ifc.HostName, n.MTU, alias
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         ifc.Name,
		PeerNamespace:    netlink.NsFd(int(ns)),
		PeerHardwareAddr: mac,
		PeerMTU:          uint32(n.MTU),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, os.ErrExist) || errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create veth %s: %s already exists in %s: %w", ifc.HostName, ifc.Name, ep.Netns, err)
		}
		return nil, fmt.Errorf("create veth %s: %w", ifc.HostName, err)
	}
	l, err := netlink.LinkByName(ifc.HostName)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", ifc.HostName, err)
	}
	if _, err := claim(l, "veth", alias); err != nil {
		return nil, err
	}
	return l, nil
}

func plugHost(host netlink.Link, n *store.Network) error {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", n.Bridge, err)
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
			return fmt.Errorf("add %s to %s: %w", host.Attrs().Name, n.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", host.Attrs().Name, err)
	}
	return nil
}

// configureInside sets up the endpoint side: IPv6 off (the networks are
// IPv4), the address, up, and the default route via the gateway on the
// first interface.
func configureInside(ns netns.NsHandle, ifc *store.Interface, n *store.Network, defaultRoute bool) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("find %s: %w", ifc.Name, err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		_ = h.LinkSetUp(lo)
	}
	err = inNetns(ns, func() error {
		err := writeSysctl("net/ipv6/conf/"+ifc.Name+"/disable_ipv6", "1")
		if errors.Is(err, os.ErrNotExist) {
			return nil // kernel without IPv6
		}
		return err
	})
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(ifc.IP, n.Subnet.Bits()))}
	if err := h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("add address %s: %w", ifc.IP, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", ifc.Name, err)
	}
	if !defaultRoute {
		return nil
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: n.Gateway.AsSlice()}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("add default route via %s: %w", n.Gateway, err)
	}
	return nil
}

// teardownIface removes what ensureIface made, in the reverse order; what
// is already gone is not an error.
func (m *Manager) teardownIface(ep *store.Endpoint, ifc *store.Interface) error {
	errs := []error{m.maps.Endpoints.Delete(ifc.IP)}
	idx := 0
	if l, err := netlink.LinkByName(ifc.HostName); err == nil {
		idx = l.Attrs().Index
	}
	errs = append(errs, m.dp.Detach(ifc.HostName, idx, loader.Ingress))
	if idx > 0 {
		errs = append(errs, m.maps.Ifaces.Delete(idx), m.maps.Stats.DeleteIfindex(idx))
		errs = append(errs, m.flushFlows(func(f maps.Flow) bool { return f.Ifindex == idx }))
	}
	errs = append(errs, deleteOwnedLink(ifc.HostName, vethAlias(ep.Name, ifc.Name)))
	return errors.Join(errs...)
}
