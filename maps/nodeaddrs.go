package maps

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// NodeAddrs is enet_node_addrs: every IPv4 address of the node's devices,
// each with the ifindex of a device that has it. A port published on every
// address answers on these.
type NodeAddrs struct{ *ebpf.Map }

// All lists the entries.
func (m NodeAddrs) All() (map[netip.Addr]int, error) {
	out := map[netip.Addr]int{}
	var (
		k  loader.EnetNodeAddrKey
		v  uint32
		it = m.Iterate()
	)
	for it.Next(&k, &v) {
		out[netip.AddrFrom4(k.Addr)] = int(v)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_node_addrs: %w", err)
	}
	return out, nil
}

// Sync makes the map hold exactly want: what is missing or changed is
// written first, then what is gone removed, so an address that stays is
// never missing in between.
func (m NodeAddrs) Sync(want map[netip.Addr]int) error {
	have, err := m.All()
	if err != nil {
		return err
	}
	var errs []error
	for a, idx := range want {
		if cur, ok := have[a]; ok && cur == idx {
			continue
		}
		k, err := nodeAddrKey(a)
		if err == nil {
			v := uint32(idx)
			err = m.Put(&k, &v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("put node address %s: %w", a, err))
		}
	}
	for a := range have {
		if _, ok := want[a]; ok {
			continue
		}
		k := loader.EnetNodeAddrKey{Addr: a.As4()}
		if err := ignoreNotExist(m.Delete(&k)); err != nil {
			errs = append(errs, fmt.Errorf("delete node address %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

func nodeAddrKey(a netip.Addr) (loader.EnetNodeAddrKey, error) {
	v, err := v4(a)
	return loader.EnetNodeAddrKey{Addr: v}, err
}
