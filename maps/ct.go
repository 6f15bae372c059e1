package maps

import (
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Tuple is a flow's IPv4 tuple in the direction a packet travels. For
// ICMP echo the ports hold the identifier (source side in a request,
// destination side in a reply), as in bpf/lib/tuple.h.
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
type CT struct {
	tupleMap[loader.EnetCtEntry, Flow]
}

func newCT(m *ebpf.Map) CT {
	return CT{tupleMap[loader.EnetCtEntry, Flow]{m: m, what: "flow", view: flowOf,
		raw: func(f Flow) (loader.EnetCtKey, loader.EnetCtEntry) { return f.Tuple.Key(), f.entry() }}}
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
