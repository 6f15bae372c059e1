package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Tuple is a flow's IPv4 tuple in the direction a packet travels. For
// ICMP echo the ports hold the identifier (source side in a request,
// destination side in a reply), as in bpf/lib/l4.h.
type Tuple struct {
	Proto uint8
	Src   netip.AddrPort
	Dst   netip.AddrPort
}

func tupleOf(k loader.EnetCtKey) Tuple {
	return Tuple{
		Proto: k.Proto,
		Src:   netip.AddrPortFrom(netip.AddrFrom4(k.Saddr), k.Sport),
		Dst:   netip.AddrPortFrom(netip.AddrFrom4(k.Daddr), k.Dport),
	}
}

// Key is the map key for a tuple.
func (t Tuple) Key() loader.EnetCtKey {
	return loader.EnetCtKey{
		Saddr: t.Src.Addr().As4(), Daddr: t.Dst.Addr().As4(),
		Sport: t.Src.Port(), Dport: t.Dst.Port(), Proto: t.Proto,
	}
}

// Reverse is the tuple of a packet going the other way.
func (t Tuple) Reverse() Tuple { return Tuple{Proto: t.Proto, Src: t.Dst, Dst: t.Src} }

// Flow is an enet_ct entry.
type Flow struct {
	Tuple   Tuple // original direction: the key
	Reply   Tuple // reply direction after translation
	State   loader.EnetCtState
	Flags   loader.EnetCtFlag
	Ifindex int
	// CLOCK_MONOTONIC nanoseconds, as the datapath's bpf_ktime_get_ns.
	CreatedNs, ExpiresNs     uint64
	PacketsOrig, BytesOrig   uint64
	PacketsReply, BytesReply uint64
}

func flowOf(k loader.EnetCtKey, v loader.EnetCtEntry) Flow {
	return Flow{
		Tuple: tupleOf(k), Reply: tupleOf(v.Reply), State: v.State, Flags: v.Flags, Ifindex: int(v.Ifindex),
		CreatedNs: v.CreatedNs, ExpiresNs: v.ExpiresNs,
		PacketsOrig: v.PacketsOrig, BytesOrig: v.BytesOrig, PacketsReply: v.PacketsReply, BytesReply: v.BytesReply,
	}
}

func (f Flow) entry() loader.EnetCtEntry {
	return loader.EnetCtEntry{
		CreatedNs: f.CreatedNs, ExpiresNs: f.ExpiresNs,
		PacketsOrig: f.PacketsOrig, BytesOrig: f.BytesOrig, PacketsReply: f.PacketsReply, BytesReply: f.BytesReply,
		State: f.State, Flags: f.Flags, Ifindex: uint32(f.Ifindex), Reply: f.Reply.Key(),
	}
}

// CT is enet_ct.
type CT struct{ *ebpf.Map }

// All lists every flow.
func (m CT) All() ([]Flow, error) {
	var out []Flow
	err := dumpAll(m.Map, func(k loader.EnetCtKey, v loader.EnetCtEntry) { out = append(out, flowOf(k, v)) })
	return out, err
}

// Get reads one flow; ok is false when there is none.
func (m CT) Get(t Tuple) (Flow, bool, error) {
	v, ok, err := lookup[loader.EnetCtEntry](m.Map.Lookup, t)
	if err != nil {
		return Flow{}, false, fmt.Errorf("look up flow %v: %w", t, err)
	}
	return flowOf(t.Key(), v), ok, nil
}

// Take removes a flow's conntrack entry and returns what it was, in one
// step: what is removed is what is returned, whatever the datapath wrote
// meanwhile.
func (m CT) Take(t Tuple) (Flow, bool, error) {
	v, ok, err := lookup[loader.EnetCtEntry](m.Map.LookupAndDelete, t)
	if err != nil {
		return Flow{}, false, fmt.Errorf("take flow %v: %w", t, err)
	}
	return flowOf(t.Key(), v), ok, nil
}

// Restore puts back an entry Take removed, unless the datapath has written
// its key since: then the datapath's entry is the newer.
func (m CT) Restore(f Flow) error {
	k, v := f.Tuple.Key(), f.entry()
	return ignoreExist(m.Map.Update(&k, &v, ebpf.UpdateNoExist))
}

// Delete removes a flow's conntrack entry; a missing one is not an error.
func (m CT) Delete(t Tuple) error {
	k := t.Key()
	return ignoreNotExist(m.Map.Delete(&k))
}

// CTStateName is how `ebpfnet bpf ct` shows a state.
func CTStateName(s loader.EnetCtState) string {
	switch s {
	case loader.EnetCtStateCT_SYN:
		return "syn"
	case loader.EnetCtStateCT_ESTABLISHED:
		return "established"
	case loader.EnetCtStateCT_CLOSING:
		return "closing"
	}
	return "new"
}
