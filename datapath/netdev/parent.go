package netdev

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// LinkInfo is what the control plane checks of a device it does not own:
// a macvlan or ipvlan network's parent.
type LinkInfo struct {
	Name   string
	Index  int
	Kind   string // netlink's type: "veth", "bridge", "vlan", ...
	Alias  string
	MTU    int
	MAC    net.HardwareAddr
	Master int // ifindex of the bridge or bond it is a port of; 0: none
}

// Info reads a device of the daemon's namespace.
func (Netlink) Info(name string) (LinkInfo, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return LinkInfo{}, fmt.Errorf("find %s: %w", name, err)
	}
	a := l.Attrs()
	return LinkInfo{Name: a.Name, Index: a.Index, Kind: l.Type(), Alias: a.Alias, MTU: a.MTU, MAC: a.HardwareAddr,
		Master: a.MasterIndex}, nil
}

// ParentAlias is the alias of a parent device ebpfnet made for a network.
func ParentAlias(network string) string { return AliasPrefix + "parent:" + network }

// Parent is a parent device ebpfnet makes for a macvlan or ipvlan
// network when it is missing: an 802.1q sub-interface IF.VLAN of IF, or a
// dummy for an internal network, whose endpoints reach only each other.
type Parent struct {
	Name  string
	Alias string
	Kind  string // KindVlan or KindDummy
}

// ParseVlan splits an 802.1q sub-interface's name, IF.VLAN, into the
// device and the VLAN id (1-4094); ok is false for a name of another form.
func ParseVlan(name string) (dev string, id int, ok bool) {
	dev, idStr, found := strings.Cut(name, ".")
	if !found || dev == "" || strings.Contains(idStr, ".") {
		return "", 0, false
	}
	id, err := strconv.Atoi(idStr)
	if err != nil || id < 1 || id > 4094 {
		return "", 0, false
	}
	return dev, id, true
}

// EnsureParent makes the parent exist and up. One of that name that is
// not ebpfnet's is used as it is. Idempotent.
func (Netlink) EnsureParent(p Parent) error {
	if l, err := netlink.LinkByName(p.Name); err == nil {
		if _, err := claim(l, p.Kind, p.Alias); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	} else if !IsNotFound(err) {
		return fmt.Errorf("find %s: %w", p.Name, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = p.Name
	var l netlink.Link = &netlink.Dummy{LinkAttrs: attrs}
	if p.Kind == KindVlan {
		dev, id, ok := ParseVlan(p.Name)
		if !ok {
			return fmt.Errorf("%s is not an 802.1q sub-interface name (IF.VLAN, VLAN 1-4094)", p.Name)
		}
		under, err := netlink.LinkByName(dev)
		if err != nil {
			return fmt.Errorf("find %s, the device of %s: %w", dev, p.Name, err)
		}
		attrs.ParentIndex = under.Attrs().Index
		l = &netlink.Vlan{LinkAttrs: attrs, VlanId: id}
	}
	if err := linkAdd(l); err != nil {
		return fmt.Errorf("create %s %s: %w", p.Kind, p.Name, err)
	}
	made, err := netlink.LinkByName(p.Name)
	if err != nil {
		return fmt.Errorf("find %s: %w", p.Name, err)
	}
	if err := netlink.LinkSetAlias(made, p.Alias); err != nil {
		return fmt.Errorf("set alias of %s: %w", p.Name, err)
	}
	return netlink.LinkSetUp(made)
}

// ProbeSub makes and deletes a device of kind on parent, in the daemon's
// namespace, to learn whether the kernel has the kind before a network
// of it is promised to anyone.
func (Netlink) ProbeSub(kind, parent string) error {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return fmt.Errorf("find %s: %w", parent, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.ParentIndex = "enprobe"+randomSuffix(), p.Attrs().Index
	var l netlink.Link = &netlink.Macvlan{LinkAttrs: attrs, Mode: netlink.MACVLAN_MODE_BRIDGE}
	if kind == KindIpvlan {
		l = &netlink.IPVlan{LinkAttrs: attrs, Mode: netlink.IPVLAN_MODE_L2}
	}
	if err := linkAdd(l); err != nil {
		return fmt.Errorf("create a %s device on %s: %w", kind, parent, err)
	}
	return netlink.LinkDel(l)
}

// randomSuffix is six hex digits, for a device name no one else picks.
func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
