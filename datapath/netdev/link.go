// Package netdev makes, finds and removes the kernel network objects
// ebpfnet owns, through netlink: bridges, veth pairs, network namespaces,
// addresses, routes and sysctls. A device is ebpfnet's when it carries an
// alias ebpfnet gave it. The package knows nothing of the store or the
// maps: callers pass names, addresses and sizes.
package netdev

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the kernel's network objects as the control plane asks for
// them; its zero value is ready. The orchestrator holds it behind an
// interface of its own, which tests fill with a fake.
type Netlink struct{}

// AliasPrefix starts the alias of every device ebpfnet creates.
const AliasPrefix = "ebpfnet:"

// BridgeAlias is the alias of a network's bridge.
func BridgeAlias(network string) string { return AliasPrefix + "network:" + network }

// VethAlias is the alias of the host side of an endpoint's interface.
func VethAlias(endpoint, ifname string) string {
	return AliasPrefix + "endpoint:" + endpoint + ":" + ifname
}

// IsNotFound says whether err means the device does not exist.
func IsNotFound(err error) bool {
	return errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV)
}

// LinkExists says whether a device of that name exists.
func (Netlink) LinkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// LinkIndex is the ifindex of a device, 0 when there is none.
func (Netlink) LinkIndex(name string) int {
	if l, err := netlink.LinkByName(name); err == nil {
		return l.Attrs().Index
	}
	return 0
}

// LinkName is the name of a device, "" when there is none.
func (Netlink) LinkName(ifindex int) string {
	if l, err := netlink.LinkByIndex(ifindex); err == nil {
		return l.Attrs().Name
	}
	return ""
}

// Link is a device as listings show it.
type Link struct {
	Name  string
	Index int
	Alias string
}

// Owned says whether ebpfnet created the device.
func (l Link) Owned() bool { return strings.HasPrefix(l.Alias, AliasPrefix) }

// Links lists every device of the namespace.
func (Netlink) Links() ([]Link, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out := make([]Link, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		out = append(out, Link{Name: a.Name, Index: a.Index, Alias: a.Alias})
	}
	return out, nil
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

// DeleteOwned deletes a device if it carries ebpfnet's alias for it; one
// already gone is not an error.
func (Netlink) DeleteOwned(name, alias string) error {
	l, err := netlink.LinkByName(name)
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if l.Attrs().Alias != alias {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// PrefixNet is p as the netlink package takes it.
func PrefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
