package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Network is an entry of enet_networks, plus its subnet in enet_subnets.
type Network struct {
	ID            uint32
	Subnet        netip.Prefix
	Gateway       netip.Addr
	BridgeIfindex int
	GatewayMAC    net.HardwareAddr
	ICC           bool
	Internal      bool
	Masquerade    bool
}

// Networks is enet_networks together with the enet_subnets trie that maps
// an address to its network.
type Networks struct {
	Networks *ebpf.Map
	Subnets  *ebpf.Map
}

func (n Network) flags() loader.EnetNetworkFlag {
	var f loader.EnetNetworkFlag
	if n.ICC {
		f |= loader.EnetNetworkFlagNET_F_ICC
	}
	if n.Internal {
		f |= loader.EnetNetworkFlagNET_F_INTERNAL
	}
	if n.Masquerade {
		f |= loader.EnetNetworkFlagNET_F_MASQUERADE
	}
	return f
}

func subnetKey(p netip.Prefix) (loader.EnetSubnetKey, error) {
	a, err := v4(p.Masked().Addr())
	if err != nil {
		return loader.EnetSubnetKey{}, err
	}
	return loader.EnetSubnetKey{Prefixlen: uint32(p.Bits()), Addr: a}, nil
}

// Put adds or replaces a network and its subnet.
func (m Networks) Put(n Network) error {
	sk, err := subnetKey(n.Subnet)
	if err != nil {
		return err
	}
	gw, err := v4(n.Gateway)
	if err != nil {
		return err
	}
	mac, err := mac6(n.GatewayMAC)
	if err != nil {
		return err
	}
	v := loader.EnetNetwork{
		Subnet:        sk.Addr,
		Prefixlen:     sk.Prefixlen,
		Gateway:       gw,
		BridgeIfindex: uint32(n.BridgeIfindex),
		GatewayMac:    mac,
		Flags:         n.flags(),
	}
	if err := m.Networks.Put(&n.ID, &v); err != nil {
		return fmt.Errorf("put network %d: %w", n.ID, err)
	}
	if err := m.Subnets.Put(&sk, &loader.EnetSubnet{NetId: n.ID}); err != nil {
		return fmt.Errorf("put subnet %s: %w", n.Subnet, err)
	}
	return nil
}

// Delete removes a network and its subnet; missing entries are not errors.
func (m Networks) Delete(id uint32, subnet netip.Prefix) error {
	sk, err := subnetKey(subnet)
	if err != nil {
		return err
	}
	return errors.Join(
		ignoreNotExist(m.Subnets.Delete(&sk)),
		ignoreNotExist(m.Networks.Delete(&id)),
	)
}

// All lists every network entry.
func (m Networks) All() ([]Network, error) {
	var (
		k   uint32
		v   loader.EnetNetwork
		out []Network
	)
	it := m.Networks.Iterate()
	for it.Next(&k, &v) {
		out = append(out, Network{
			ID:            k,
			Subnet:        netip.PrefixFrom(netip.AddrFrom4(v.Subnet), int(v.Prefixlen)),
			Gateway:       netip.AddrFrom4(v.Gateway),
			BridgeIfindex: int(v.BridgeIfindex),
			GatewayMAC:    hwAddr(v.GatewayMac),
			ICC:           v.Flags&loader.EnetNetworkFlagNET_F_ICC != 0,
			Internal:      v.Flags&loader.EnetNetworkFlagNET_F_INTERNAL != 0,
			Masquerade:    v.Flags&loader.EnetNetworkFlagNET_F_MASQUERADE != 0,
		})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_networks: %w", err)
	}
	return out, nil
}

// DeleteSubnet removes one enet_subnets entry.
func (m Networks) DeleteSubnet(p netip.Prefix) error {
	sk, err := subnetKey(p)
	if err != nil {
		return err
	}
	return ignoreNotExist(m.Subnets.Delete(&sk))
}

// SubnetEntries lists every enet_subnets entry as prefix -> network id.
func (m Networks) SubnetEntries() (map[netip.Prefix]uint32, error) {
	var (
		k   loader.EnetSubnetKey
		v   loader.EnetSubnet
		out = map[netip.Prefix]uint32{}
	)
	it := m.Subnets.Iterate()
	for it.Next(&k, &v) {
		out[netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen))] = v.NetId
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_subnets: %w", err)
	}
	return out, nil
}
