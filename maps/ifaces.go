package maps

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Iface is an entry of enet_ifaces: the endpoint interface behind a
// host-side veth, which enet_from_ep holds every frame's source against.
type Iface struct {
	Ifindex int // host-side veth
	IP      netip.Addr
	NetID   uint32
	MAC     net.HardwareAddr
}

// Ifaces is enet_ifaces.
type Ifaces struct{ *ebpf.Map }

// Put adds or replaces an interface.
func (m Ifaces) Put(i Iface) error {
	ip, err := v4(i.IP)
	if err != nil {
		return err
	}
	mac, err := mac6(i.MAC)
	if err != nil {
		return err
	}
	k := uint32(i.Ifindex)
	v := loader.EnetIface{Ip4: ip, NetId: i.NetID, Mac: mac}
	if err := m.Map.Put(&k, &v); err != nil {
		return fmt.Errorf("put iface %d: %w", i.Ifindex, err)
	}
	return nil
}

// Delete removes an interface; a missing one is not an error.
func (m Ifaces) Delete(ifindex int) error {
	k := uint32(ifindex)
	return ignoreNotExist(m.Map.Delete(&k))
}

// All lists every entry.
func (m Ifaces) All() ([]Iface, error) {
	var (
		k   uint32
		v   loader.EnetIface
		out []Iface
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		out = append(out, Iface{Ifindex: int(k), IP: netip.AddrFrom4(v.Ip4), NetID: v.NetId, MAC: hwAddr(v.Mac)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_ifaces: %w", err)
	}
	return out, nil
}
