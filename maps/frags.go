package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Frag is an enet_frags entry: a datagram in IPv4 fragments, as the
// fragments arrive on Ifindex, and the ports its first fragment carried
// (bpf/lib/frag.h).
type Frag struct {
	Src, Dst     netip.Addr
	Ifindex      int
	ID           uint16 // IP identification
	Proto        uint8
	Sport, Dport uint16
	TCPFlags     uint8
	ExpiresNs    uint64 // CLOCK_MONOTONIC
	Seen         uint32 // payload bytes of the fragments seen
	Total        uint32 // the datagram's payload bytes; 0 until its last fragment came
	Conflict     bool   // two first fragments with other ports: the datagram is dropped
	Detoured     bool   // a later fragment came first: the datagram goes to the helper namespace
}

func (f Frag) key() loader.EnetFragKey {
	return loader.EnetFragKey{Saddr: f.Src.As4(), Daddr: f.Dst.As4(), Ifindex: uint32(f.Ifindex), Id: f.ID, Proto: f.Proto}
}

func (f Frag) entry() loader.EnetFragEntry {
	v := loader.EnetFragEntry{ExpiresNs: f.ExpiresNs, Sport: f.Sport, Dport: f.Dport, TcpFlags: f.TCPFlags, Seen: f.Seen, Total: f.Total}
	if f.Conflict {
		v.Flags |= loader.EnetFragFlagFRAG_F_CONFLICT
	}
	if f.Detoured {
		v.Flags |= loader.EnetFragFlagFRAG_F_DETOURED
	}
	return v
}

func fragOf(k loader.EnetFragKey, v loader.EnetFragEntry) Frag {
	return Frag{
		Src: netip.AddrFrom4(k.Saddr), Dst: netip.AddrFrom4(k.Daddr), Ifindex: int(k.Ifindex), ID: k.Id, Proto: k.Proto,
		Sport: v.Sport, Dport: v.Dport, TCPFlags: v.TcpFlags, ExpiresNs: v.ExpiresNs, Seen: v.Seen, Total: v.Total,
		Conflict: v.Flags&loader.EnetFragFlagFRAG_F_CONFLICT != 0, Detoured: v.Flags&loader.EnetFragFlagFRAG_F_DETOURED != 0,
	}
}

// Frags is enet_frags.
type Frags struct{ *ebpf.Map }

// All lists every entry.
func (m Frags) All() ([]Frag, error) {
	var out []Frag
	err := dumpAll(m.Map, func(k loader.EnetFragKey, v loader.EnetFragEntry) { out = append(out, fragOf(k, v)) })
	return out, err
}

// Put writes an entry.
func (m Frags) Put(f Frag) error {
	k, v := f.key(), f.entry()
	if err := m.Map.Put(&k, &v); err != nil {
		return fmt.Errorf("put fragment entry %v: %w", k, err)
	}
	return nil
}

// CollectFrags removes the entries of datagrams that expired GCGrace
// before now: an incomplete datagram's entry outlives it until the LRU
// map needs the room. The datapath may write a new datagram's entry over
// a dead one's key at any moment, so, as takeIf does for flows, an entry
// is taken out in one step and put back if it is not the dead one. It
// returns how many it removed.
func CollectFrags(m Frags, now uint64) (int, error) {
	dead := func(v loader.EnetFragEntry) bool { return v.ExpiresNs+uint64(GCGrace) < now }
	all, err := m.All()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range all {
		if !dead(f.entry()) {
			continue
		}
		k := f.key()
		var got loader.EnetFragEntry
		if err := m.LookupAndDelete(&k, &got); ignoreNotExist(err) != nil {
			return n, fmt.Errorf("take fragment entry %v: %w", k, err)
		} else if err != nil {
			continue
		}
		if !dead(got) {
			if err := ignoreExist(m.Update(&k, &got, ebpf.UpdateNoExist)); err != nil {
				return n, fmt.Errorf("restore fragment entry %v: %w", k, err)
			}
			continue
		}
		n++
	}
	return n, nil
}
