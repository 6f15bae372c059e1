package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// applier makes the kernel hold what the store holds, one network or
// endpoint at a time. Every ensure is idempotent, so start-up runs it for
// everything stored; every teardown takes what is already gone as done.
type applier struct {
	dev Devices
	dp  Datapath
}

// ensureNetwork: the bridge with the gateway address and enet_to_br on
// it, and the network's enet_networks and enet_subnets entries; for a
// macvlan or ipvlan network, only its parent, if ebpfnet makes it.
func (a applier) ensureNetwork(n *store.Network) error {
	if !n.Bridged() {
		return a.ensureParent(n)
	}
	mac := bridgeMAC(n.Gateway)
	idx, err := a.dev.EnsureBridge(netdev.Bridge{Name: n.Bridge, Alias: netdev.BridgeAlias(n.Name), MTU: n.MTU,
		MAC: mac, Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits())})
	if err != nil {
		return err
	}
	if err := a.dp.AttachBridge(n.Bridge, idx); err != nil {
		return err
	}
	return a.dp.PutNetwork(maps.Network{ID: n.ID, Subnet: n.Subnet, Gateway: n.Gateway, BridgeIfindex: idx,
		GatewayMAC: mac, ICC: n.ICC, Internal: n.Internal, Masquerade: n.Masquerades()})
}

func (a applier) teardownNetwork(n *store.Network) error {
	if !n.Bridged() {
		return a.teardownParent(n)
	}
	return errors.Join(a.dp.DeleteNetwork(n.ID, n.Subnet), a.dp.DetachBridge(n.Bridge, a.dev.LinkIndex(n.Bridge)),
		a.dev.DeleteOwned(n.Bridge, netdev.BridgeAlias(n.Name)))
}

// ensureEndpoint: its namespace (created again if it was ours and is
// gone) and every interface.
func (a applier) ensureEndpoint(ep *store.Endpoint, nets map[string]*store.Network) error {
	if !ep.Plain() {
		return a.ensureMode(ep)
	}
	if ep.Handoff {
		// No namespace: the runtime has the far ends.
	} else if ep.OwnNetns {
		if _, err := a.dev.NetnsIno(ep.Netns); err != nil {
			// The veths' far ends went with the namespace; host sides
			// still here are on their way out with it, so they must not
			// be taken for the pair the new namespace needs.
			for i := range ep.Interfaces {
				if err := a.teardownIface(ep, &ep.Interfaces[i]); err != nil {
					return err
				}
			}
			if err := a.dev.CreateNetns(ep.Netns); err != nil {
				return err
			}
		}
	} else if ino, err := a.dev.NetnsIno(ep.Netns); err != nil || ino != ep.NetnsIno {
		return fmt.Errorf("netns %s of endpoint %s is gone", ep.Netns, ep.Name)
	}
	for i := range ep.Interfaces {
		ifc := &ep.Interfaces[i]
		n, ok := nets[ifc.Network]
		if !ok {
			return fmt.Errorf("endpoint %s: network %s is not in the store", ep.Name, ifc.Network)
		}
		if err := a.ensureIface(ep, ifc, n); err != nil {
			return err
		}
	}
	return nil
}

// ensureIface: the veth pair, the datapath's view of it, the program on
// its host side, and its address and routes inside the namespace. The
// order keeps the datapath closed: the host side comes up only after
// enet_ifaces knows it and the program is on it, and others reach it only
// once it is configured.
func (a applier) ensureIface(ep *store.Endpoint, ifc *store.Interface, n *store.Network) error {
	if !n.Bridged() {
		return a.ensureSub(ep, ifc, n)
	}
	mac, err := net.ParseMAC(ifc.MAC)
	if err != nil {
		return fmt.Errorf("endpoint %s: bad MAC %q: %w", ep.Name, ifc.MAC, err)
	}
	idx, err := a.dev.EnsureVeth(netdev.Veth{Host: ifc.HostName, Alias: netdev.VethAlias(ep.Name, ifc.Name),
		Peer: ifc.Name, PeerMAC: mac, MTU: n.MTU, Netns: ep.Netns})
	if err != nil {
		return err
	}
	if err := a.dp.PutIface(maps.Iface{Ifindex: idx, IP: ifc.IP, NetID: n.ID, MAC: mac}); err != nil {
		return err
	}
	if err := a.dp.AttachEndpoint(ifc.HostName, idx); err != nil {
		return err
	}
	if err := a.dev.PlugVeth(ifc.HostName, n.Bridge); err != nil {
		return err
	}
	if !ep.Handoff {
		in := netdev.Inside{Netns: ep.Netns, Ifname: ifc.Name, Addr: netip.PrefixFrom(ifc.IP, n.Subnet.Bits())}
		if ep.Interfaces[0].Network == ifc.Network {
			in.Gateway = n.Gateway
		}
		if err := a.dev.ConfigureInside(in); err != nil {
			return err
		}
	}
	return a.dp.PutEndpoint(maps.Endpoint{IP: ifc.IP, Ifindex: idx, NetID: n.ID, MAC: mac})
}

// teardownIface removes what ensureIface made, in the reverse order.
func (a applier) teardownIface(ep *store.Endpoint, ifc *store.Interface) error {
	if !ifc.Veth() {
		return a.dev.DeleteSub(ep.Netns, ifc.Name, netdev.VethAlias(ep.Name, ifc.Name))
	}
	errs := []error{a.dp.DeleteEndpoint(ifc.IP)}
	idx := a.dev.LinkIndex(ifc.HostName)
	errs = append(errs, a.dp.DetachEndpoint(ifc.HostName, idx))
	if idx > 0 {
		errs = append(errs, a.dp.ForgetIface(idx))
	}
	errs = append(errs, a.dev.DeleteOwned(ifc.HostName, netdev.VethAlias(ep.Name, ifc.Name)))
	return errors.Join(errs...)
}

// teardownEndpoint removes every interface and, if ebpfnet created it, the
// namespace.
func (a applier) teardownEndpoint(ep *store.Endpoint) error {
	var errs []error
	for i := range ep.Interfaces {
		errs = append(errs, a.teardownIface(ep, &ep.Interfaces[i]))
	}
	if ep.OwnNetns {
		errs = append(errs, a.dev.DeleteNetns(ep.Netns))
	}
	return errors.Join(errs...)
}
