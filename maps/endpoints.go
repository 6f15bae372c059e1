package maps

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Endpoint is an entry of enet_endpoints: where packets for IP are delivered.
type Endpoint struct {
	IP      netip.Addr
	Ifindex int // host-side veth
	NetID   uint32
	MAC     net.HardwareAddr // inside the endpoint
}

// Endpoints is enet_endpoints.
type Endpoints struct{ *ebpf.Map }

func epKey(ip netip.Addr) (loader.EnetEpKey, error) {
	a, err := v4(ip)
	if err != nil {
		return loader.EnetEpKey{}, err
	}
	k := loader.EnetEpKey{Family: afInet}
	copy(k.Addr[:], a[:])
	return k, nil
}

// Put adds or replaces an endpoint.
func (m Endpoints) Put(e Endpoint) error {
	k, err := epKey(e.IP)
	if err != nil {
		return err
	}
	mac, err := mac6(e.MAC)
	if err != nil {
		return err
	}
	v := loader.EnetEndpoint{Ifindex: uint32(e.Ifindex), NetId: e.NetID, Mac: mac}
	if err := m.Map.Put(&k, &v); err != nil {
		return fmt.Errorf("put endpoint %s: %w", e.IP, err)
	}
	return nil
}

// Delete removes an endpoint; a missing one is not an error.
func (m Endpoints) Delete(ip netip.Addr) error {
	k, err := epKey(ip)
	if err != nil {
		return err
	}
	return ignoreNotExist(m.Map.Delete(&k))
}

// All lists every entry.
func (m Endpoints) All() ([]Endpoint, error) {
	var (
		k   loader.EnetEpKey
		v   loader.EnetEndpoint
		out []Endpoint
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if k.Family != afInet {
			continue
		}
		out = append(out, Endpoint{
			IP:      netip.AddrFrom4([4]byte(k.Addr[:4])),
			Ifindex: int(v.Ifindex),
			NetID:   v.NetId,
			MAC:     hwAddr(v.Mac),
		})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_endpoints: %w", err)
	}
	return out, nil
}
