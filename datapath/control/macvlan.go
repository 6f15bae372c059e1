package control

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// A macvlan or ipvlan network puts its endpoints straight on the node's
// LAN, as Docker's drivers of those names do: each endpoint's device
// sits on the network's parent device, with an address of the LAN's
// subnet, and its traffic leaves through the parent with no bridge, NAT
// or program of ebpfnet's in the way. ebpfnet does its IPAM, makes the
// devices, and makes an 802.1q parent IF.VLAN, or an internal network's
// dummy parent, when it is missing.

// checkDriver reads a network's driver; bridge is stored as "".
func checkDriver(d string) (string, error) {
	switch d {
	case "", store.DriverBridge:
		return "", nil
	case store.DriverMacvlan, store.DriverIpvlan:
		return d, nil
	}
	return "", errdefs.Invalid("network driver %q is unknown (known: bridge, macvlan, ipvlan)", d)
}

// subOptions folds a macvlan or ipvlan network's --opt pairs into it:
// parent, its driver's mode, and the MTU.
func subOptions(req *api.NetworkCreate, n *store.Network) error {
	modeKey := n.Driver + "_mode"
	for k, v := range req.Options {
		switch k {
		case "parent":
			n.Parent = v
		case modeKey:
			n.Mode = v
		case "mtu", "com.docker.network.driver.mtu":
			mtu, err := strconv.Atoi(v)
			if err != nil {
				return errdefs.Invalid("option %s=%q: want a number", k, v)
			}
			req.MTU = mtu
		default:
			return errdefs.Invalid("unknown %s network option %q (known: parent, %s, mtu)", n.Driver, k, modeKey)
		}
	}
	kind := n.Driver
	modes := netdev.SubModes(kind)
	if n.Mode == "" {
		n.Mode = modes[0]
	}
	if !slices.Contains(modes, n.Mode) {
		return errdefs.Invalid("requested %s mode '%s' is not valid (valid: %s), '%s' mode is the %s driver default",
			kind, n.Mode, strings.Join(modes, ", "), modes[0], kind)
	}
	if req.Bridge != "" {
		return errdefs.Invalid("--bridge is a bridge network's: a %s network has none", kind)
	}
	return nil
}

// parent checks a macvlan or ipvlan network's parent device, or plans the
// one ebpfnet makes (802.1q IF.VLAN, or an internal network's dummy), and
// sets the MTU: the parent's unless a lower one is asked for.
func (p planner) parent(req api.NetworkCreate, n *store.Network, existing []store.Network) error {
	switch {
	case n.Parent == "" && n.Internal:
		n.Parent, n.MadeParent = "dm-"+randomHex(10), true
		return p.subMTU(req, n, 1500)
	case n.Parent == "":
		return errdefs.Invalid("a %s network needs a parent device: -o parent=IF (an --internal one without a parent "+
			"gets a dummy parent of its own)", n.Driver)
	case n.Parent == "lo":
		return errdefs.Invalid("loopback interface is not a valid %s parent link", n.Driver)
	}
	if err := checkIfname(n.Parent); err != nil {
		return err
	}
	for _, e := range existing {
		if e.Parent == n.Parent {
			return errdefs.Conflict("network %q is already using parent interface %s", e.Name, n.Parent)
		}
	}
	info, err := p.dev.Info(n.Parent)
	if err == nil {
		if strings.HasPrefix(info.Alias, netdev.AliasPrefix) {
			return errdefs.Conflict("%s is a device ebpfnet made (%s): a %s network's parent is one of the node's own",
				n.Parent, info.Alias, n.Driver)
		}
		return p.subMTU(req, n, info.MTU)
	}
	dev, _, isVlan := netdev.ParseVlan(n.Parent)
	if !isVlan {
		return errdefs.Invalid("-o parent interface %s was not found on the node", n.Parent)
	}
	under, err := p.dev.Info(dev)
	if err != nil {
		return errdefs.Invalid("-o parent %s: its device %s was not found on the node", n.Parent, dev)
	}
	n.MadeParent = true
	return p.subMTU(req, n, under.MTU)
}

func (p planner) subMTU(req api.NetworkCreate, n *store.Network, parentMTU int) error {
	n.MTU = parentMTU
	if req.MTU == 0 {
		return nil
	}
	if req.MTU < 68 || req.MTU > parentMTU {
		return errdefs.Invalid("mtu %d is out of range: a %s device's is 68 to its parent %s's, %d", req.MTU, n.Driver,
			n.Parent, parentMTU)
	}
	n.MTU = req.MTU
	return nil
}

// parentSpec is the parent ebpfnet makes for the network.
func parentSpec(n *store.Network) netdev.Parent {
	kind := netdev.KindDummy
	if _, _, ok := netdev.ParseVlan(n.Parent); ok {
		kind = netdev.KindVlan
	}
	return netdev.Parent{Name: n.Parent, Alias: netdev.ParentAlias(n.Name), Kind: kind}
}

// ensureParent makes the parent ebpfnet makes; one of the node's must be
// there.
func (a applier) ensureParent(n *store.Network) error {
	if n.MadeParent {
		return kernelFeature(a.dev.EnsureParent(parentSpec(n)))
	}
	if _, err := a.dev.Info(n.Parent); err != nil {
		return errdefs.Unavailable("network %s: its parent %s is gone from the node: %v", n.Name, n.Parent, err)
	}
	return nil
}

func (a applier) teardownParent(n *store.Network) error {
	if !n.MadeParent {
		return nil
	}
	return a.dev.DeleteOwned(n.Parent, netdev.ParentAlias(n.Name))
}

// kernelFeature makes a device kind the kernel lacks an unavailable
// error naming its kernel option.
func kernelFeature(err error) error {
	if fe := (*netdev.FeatureError)(nil); errors.As(err, &fe) {
		return errdefs.Unavailable("%v", err)
	}
	return err
}

// ensureSub: the endpoint's device on the parent, then its address and,
// on its first interface of a network with a way out, the default route
// via the LAN's gateway.
func (a applier) ensureSub(ep *store.Endpoint, ifc *store.Interface, n *store.Network) error {
	var mac net.HardwareAddr
	if n.Driver == store.DriverMacvlan && n.Mode != "passthru" {
		var err error
		if mac, err = net.ParseMAC(ifc.MAC); err != nil {
			return errdefs.Invalid("endpoint %s: bad MAC %q: %v", ep.Name, ifc.MAC, err)
		}
	}
	err := a.dev.EnsureSub(netdev.Sub{Kind: n.Driver, Parent: n.Parent, Mode: n.Mode, Netns: ep.Netns, Name: ifc.Name,
		Alias: netdev.VethAlias(ep.Name, ifc.Name), MAC: mac, MTU: n.MTU})
	if err != nil {
		return kernelFeature(err)
	}
	in := netdev.Inside{Netns: ep.Netns, Ifname: ifc.Name, Addr: netip.PrefixFrom(ifc.IP, n.Subnet.Bits())}
	if ep.Interfaces[0].Network == ifc.Network && !n.Internal {
		in.Gateway = n.Gateway
	}
	return a.dev.ConfigureInside(in)
}

// subIface plans what is particular to an endpoint's device on a macvlan
// or ipvlan network: a namespace ebpfnet makes, one endpoint at most in
// passthru mode, and the MAC: the one asked for or derived from the
// address; the parent's in passthru mode and on ipvlan, which take none.
func (p planner) subIface(ep *store.Endpoint, n *store.Network, mac string, used map[netip.Addr]bool) (string, error) {
	if !ep.OwnNetns {
		return "", errdefs.Invalid("endpoint %q: a %s network's endpoints live in namespaces ebpfnet makes "+
			"(/run/netns/NAME): nothing would notice an adopted one going, with the device on the LAN", ep.Name, n.Driver)
	}
	fixed := n.Driver == store.DriverIpvlan || n.Mode == "passthru"
	if fixed && mac != "" {
		return "", errdefs.Invalid("a %s %s endpoint takes its parent's MAC: --mac cannot be given", n.Driver, n.Mode)
	}
	if n.Mode == "passthru" && len(used) > 0 {
		return "", errdefs.Limit("network %q is a passthru macvlan: it takes one endpoint, which gets the parent "+
			"%s itself", n.Name, n.Parent)
	}
	if !fixed {
		return mac, nil
	}
	info, err := p.dev.Info(n.Parent)
	if err != nil {
		return "", errdefs.Unavailable("network %s: parent %s: %v", n.Name, n.Parent, err)
	}
	return info.MAC.String(), nil
}
