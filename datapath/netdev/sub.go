package netdev

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Sub is an endpoint's device on a macvlan or ipvlan network: made in the
// endpoint's namespace, under its final name, on a parent device in the
// daemon's. Traffic goes from it straight to the parent's wire, with no
// bridge, veth or program of ebpfnet's on the way.
type Sub struct {
	Kind   string // KindMacvlan or KindIpvlan
	Parent string
	Mode   string // macvlan: bridge, private, vepa, passthru; ipvlan: l2, l3, l3s
	Netns  string
	Name   string
	Alias  string           // marks it ebpfnet's
	MAC    net.HardwareAddr // nil: the kernel's (ipvlan, and macvlan passthru: the parent's)
	MTU    int
}

// Link kinds ebpfnet makes beside veths and bridges.
const (
	KindMacvlan = "macvlan"
	KindIpvlan  = "ipvlan"
	KindVlan    = "vlan"
	KindDummy   = "dummy"
)

// kernelOption is the kernel configuration option behind each kind.
var kernelOption = map[string]string{
	KindMacvlan: "CONFIG_MACVLAN", KindIpvlan: "CONFIG_IPVLAN", KindVlan: "CONFIG_VLAN_8021Q", KindDummy: "CONFIG_DUMMY",
}

// FeatureError says the kernel has no device kind: it was built without
// the option, and no module for it loads.
type FeatureError struct{ Kind string }

func (e *FeatureError) Error() string {
	return fmt.Sprintf("this kernel cannot make %s devices: it has no %s (not built in, and no module loads)",
		e.Kind, kernelOption[e.Kind])
}

// linkAdd is netlink.LinkAdd, telling a kind the kernel lacks apart: the
// kernel answers EOPNOTSUPP ("Unknown device type") for a kind no module
// provides.
func linkAdd(l netlink.Link) error {
	err := netlink.LinkAdd(l)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return &FeatureError{Kind: l.Type()}
	}
	return err
}

var macvlanModes = map[string]netlink.MacvlanMode{
	"bridge": netlink.MACVLAN_MODE_BRIDGE, "private": netlink.MACVLAN_MODE_PRIVATE,
	"vepa": netlink.MACVLAN_MODE_VEPA, "passthru": netlink.MACVLAN_MODE_PASSTHRU,
}

var ipvlanModes = map[string]netlink.IPVlanMode{
	"l2": netlink.IPVLAN_MODE_L2, "l3": netlink.IPVLAN_MODE_L3, "l3s": netlink.IPVLAN_MODE_L3S,
}

// SubModes lists the modes of a kind, the first its default.
func SubModes(kind string) []string {
	if kind == KindIpvlan {
		return []string{"l2", "l3", "l3s"}
	}
	return []string{"bridge", "private", "vepa", "passthru"}
}

func (s Sub) link(parent int, ns int) (netlink.Link, error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex, attrs.MTU, attrs.Alias = s.Name, parent, s.MTU, s.Alias
	attrs.HardwareAddr, attrs.Namespace = s.MAC, netlink.NsFd(ns)
	switch s.Kind {
	case KindMacvlan:
		mode, ok := macvlanModes[s.Mode]
		if !ok {
			return nil, fmt.Errorf("macvlan mode %q is unknown", s.Mode)
		}
		return &netlink.Macvlan{LinkAttrs: attrs, Mode: mode}, nil
	case KindIpvlan:
		mode, ok := ipvlanModes[s.Mode]
		if !ok {
			return nil, fmt.Errorf("ipvlan mode %q is unknown", s.Mode)
		}
		return &netlink.IPVlan{LinkAttrs: attrs, Mode: mode}, nil
	}
	return nil, fmt.Errorf("device kind %q is not a macvlan or ipvlan", s.Kind)
}

// EnsureSub makes the device exist in its namespace, down and with no
// address (ConfigureInside does the rest). One of that name there that is
// not ebpfnet's is an error. Idempotent.
func (Netlink) EnsureSub(s Sub) error {
	return atNetns(s.Netns, func(h *netlink.Handle, ns netns.NsHandle) error {
		if l, err := h.LinkByName(s.Name); err == nil {
			if l.Type() != s.Kind || l.Attrs().Alias != s.Alias && l.Attrs().Alias != "" {
				return fmt.Errorf("device %s exists in %s and is not ebpfnet's", s.Name, s.Netns)
			}
			// No alias: a crash came between making it and naming it ebpfnet's.
			return h.LinkSetAlias(l, s.Alias)
		}
		parent, err := netlink.LinkByName(s.Parent)
		if err != nil {
			return fmt.Errorf("parent %s: %w", s.Parent, err)
		}
		l, err := s.link(parent.Attrs().Index, int(ns))
		if err != nil {
			return err
		}
		// Asked in the daemon's namespace, where the parent's index is
		// read; the device is made in the endpoint's (IFLA_NET_NS_FD).
		if err := linkAdd(l); err != nil {
			return fmt.Errorf("create %s %s on %s in %s: %w", s.Kind, s.Name, s.Parent, s.Netns, err)
		}
		// The kernel takes no alias with a new device.
		made, err := h.LinkByName(s.Name)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", s.Name, s.Netns, err)
		}
		return h.LinkSetAlias(made, s.Alias)
	})
}

// DeleteSub deletes an endpoint's device if it carries ebpfnet's alias; a
// device or namespace already gone is not an error.
func (Netlink) DeleteSub(netnsPath, name, alias string) error {
	if _, err := NetnsIno(netnsPath); err != nil {
		return nil //nolint:nilerr // the namespace went, and the device with it
	}
	return atNetns(netnsPath, func(h *netlink.Handle, _ netns.NsHandle) error {
		l, err := h.LinkByName(name)
		if err != nil || l.Attrs().Alias != alias {
			return nil //nolint:nilerr // gone already, or not ebpfnet's
		}
		if err := h.LinkDel(l); err != nil && !IsNotFound(err) {
			return fmt.Errorf("delete %s in %s: %w", name, netnsPath, err)
		}
		return nil
	})
}

// LoopbackUp brings lo up in a namespace: all a --network none endpoint
// has.
func (Netlink) LoopbackUp(netnsPath string) error {
	return atNetns(netnsPath, func(h *netlink.Handle, _ netns.NsHandle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("lo in %s: %w", netnsPath, err)
		}
		return h.LinkSetUp(lo)
	})
}
