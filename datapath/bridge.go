package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

func linkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

func isNotFound(err error) bool {
	return errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV)
}

// ensureNetwork makes the kernel hold a network: its bridge with the
// gateway address, and its enet_networks and enet_subnets entries. It is
// idempotent, so start-up runs it for every stored network.
func (m *Manager) ensureNetwork(n *store.Network) error {
	br, err := ensureBridge(n)
	if err != nil {
		return err
	}
	return m.maps.Networks.Put(maps.Network{
		ID:            n.ID,
		Subnet:        n.Subnet,
		Gateway:       n.Gateway,
		BridgeIfindex: br.Attrs().Index,
		GatewayMAC:    bridgeMAC(n.Gateway),
		ICC:           n.ICC,
		Internal:      n.Internal,
		Masquerade:    n.Masquerade,
	})
}

func ensureBridge(n *store.Network) (netlink.Link, error) {
	mac := bridgeMAC(n.Gateway)
	br, err := netlink.LinkByName(n.Bridge)
	switch {
	case isNotFound(err):
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.HardwareAddr = n.Bridge, n.MTU, mac
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", n.Bridge, err)
		}
		if br, err = netlink.LinkByName(n.Bridge); err != nil {
			return nil, fmt.Errorf("find bridge %s: %w", n.Bridge, err)
		}
		if err := netlink.LinkSetAlias(br, bridgeAlias(n.Name)); err != nil {
			return nil, fmt.Errorf("set alias of %s: %w", n.Bridge, err)
		}
	case err != nil:
		return nil, fmt.Errorf("find bridge %s: %w", n.Bridge, err)
	default:
		ours, err := claim(br, "bridge", bridgeAlias(n.Name))
		if err != nil {
			return nil, err
		}
		if !ours {
			return nil, api.Conflict("a device named %s already exists and is not ebpfnet's", n.Bridge)
		}
	}
	if err := configureBridge(br, n, mac); err != nil {
		return nil, err
	}
	return br, nil
}

func configureBridge(br netlink.Link, n *store.Network, mac net.HardwareAddr) error {
	if br.Attrs().MTU != n.MTU {
		if err := netlink.LinkSetMTU(br, n.MTU); err != nil {
			return fmt.Errorf("set MTU of %s: %w", n.Bridge, err)
		}
	}
	if br.Attrs().HardwareAddr.String() != mac.String() {
		if err := netlink.LinkSetHardwareAddr(br, mac); err != nil {
			return fmt.Errorf("set MAC of %s: %w", n.Bridge, err)
		}
	}
	gw := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(n.Gateway, n.Subnet.Bits()))}
	if err := netlink.AddrReplace(br, gw); err != nil {
		return fmt.Errorf("add gateway %s to %s: %w", n.Gateway, n.Bridge, err)
	}
	if err := bridgeNoIPv6(n.Bridge); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set %s up: %w", n.Bridge, err)
	}
	return nil
}

// bridgeNoIPv6 turns IPv6 off on a bridge. The networks are IPv4, and the
// bridge carries endpoints' other frames, IPv6 among them: with IPv6 on,
// the node would take an endpoint's router advertisement and route
// through it (CVE-2020-13401; Docker sets accept_ra=0).
func bridgeNoIPv6(name string) error {
	err := writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1")
	if errors.Is(err, os.ErrNotExist) {
		return nil // kernel without IPv6
	}
	return err
}

// teardownNetwork removes what ensureNetwork made; what is already gone is
// not an error.
func (m *Manager) teardownNetwork(n *store.Network) error {
	errs := []error{m.maps.Networks.Delete(n.ID, n.Subnet)}
	errs = append(errs, deleteOwnedLink(n.Bridge, bridgeAlias(n.Name)))
	return errors.Join(errs...)
}

// claim says whether a device is ebpfnet's under alias. The kernel sets
// no alias as it creates a device, so ebpfnet sets it just after: a device
// of the kind and the name the store gave it, with no alias at all, is one
// whose creation a crash cut short in between, and it gets its alias now.
func claim(l netlink.Link, kind, alias string) (bool, error) {
	switch a := l.Attrs().Alias; {
	case a == alias:
		return true, nil
	case a != "" || l.Type() != kind:
		return false, nil
	}
	if err := netlink.LinkSetAlias(l, alias); err != nil {
		return false, fmt.Errorf("set alias of %s: %w", l.Attrs().Name, err)
	}
	return true, nil
}

// deleteOwnedLink deletes a device if it carries ebpfnet's alias for it.
func deleteOwnedLink(name, alias string) error {
	l, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if l.Attrs().Alias != alias {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
