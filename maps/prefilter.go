package maps

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Prefilter is enet_prefilter: the source prefixes enet_xdp_up drops,
// each with what it dropped. The map is the state: pinned, it outlives
// the daemon, and `system reset` removes it.
type Prefilter struct{ *ebpf.Map }

// PrefilterEntry is a prefix and what enet_xdp_up dropped for it.
type PrefilterEntry struct {
	Prefix         netip.Prefix
	Packets, Bytes uint64
}

// ErrPrefilterFull: enet_prefilter holds as many prefixes as it can.
var ErrPrefilterFull = errors.New("enet_prefilter is full")

func prefilterKey(p netip.Prefix) loader.EnetSubnetKey {
	return loader.EnetSubnetKey{Prefixlen: uint32(p.Bits()), Addr: p.Masked().Addr().As4()}
}

// Add adds a prefix; one already there keeps its counts. It reports
// whether the prefix is new.
func (m Prefilter) Add(p netip.Prefix) (bool, error) {
	k := prefilterKey(p)
	err := m.Update(&k, &loader.EnetPrefilter{}, ebpf.UpdateNoExist)
	switch {
	case errors.Is(err, ebpf.ErrKeyExist):
		return false, nil
	case errors.Is(err, unix.E2BIG) || errors.Is(err, unix.ENOSPC):
		return false, ErrPrefilterFull
	case err != nil:
		return false, fmt.Errorf("add prefilter %s: %w", p, err)
	}
	return true, nil
}

// Remove removes a prefix; it reports whether it was there.
func (m Prefilter) Remove(p netip.Prefix) (bool, error) {
	k := prefilterKey(p)
	err := m.Delete(&k)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove prefilter %s: %w", p, err)
	}
	return true, nil
}

// All lists the prefixes with their counts.
func (m Prefilter) All() ([]PrefilterEntry, error) {
	var (
		out []PrefilterEntry
		k   loader.EnetSubnetKey
		v   loader.EnetPrefilter
		it  = m.Iterate()
	)
	for it.Next(&k, &v) {
		p := netip.PrefixFrom(netip.AddrFrom4(k.Addr), int(k.Prefixlen))
		out = append(out, PrefilterEntry{Prefix: p, Packets: v.Packets, Bytes: v.Bytes})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_prefilter: %w", err)
	}
	return out, nil
}
