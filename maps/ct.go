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

// Flow is an enet_ct or enet_ct_new entry.
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
	TCP                      [2]loader.EnetCtTcpSide // TCP: the originator, the replier
	// Assured: in enet_ct, not enet_ct_new (bpf/lib/ct.h ct_assured).
	Assured bool
}

func flowOf(k loader.EnetCtKey, v loader.EnetCtEntry, assured bool) Flow {
	return Flow{
		Tuple: tupleOf(k), Reply: tupleOf(v.Reply), State: v.State, Flags: v.Flags, Ifindex: int(v.Ifindex),
		CreatedNs: v.CreatedNs, ExpiresNs: v.ExpiresNs,
		PacketsOrig: v.PacketsOrig, BytesOrig: v.BytesOrig, PacketsReply: v.PacketsReply, BytesReply: v.BytesReply,
		TCP: v.Tcp, Assured: assured,
	}
}

func (f Flow) entry() loader.EnetCtEntry {
	return loader.EnetCtEntry{
		CreatedNs: f.CreatedNs, ExpiresNs: f.ExpiresNs,
		PacketsOrig: f.PacketsOrig, BytesOrig: f.BytesOrig, PacketsReply: f.PacketsReply, BytesReply: f.BytesReply,
		State: f.State, Flags: f.Flags, Ifindex: uint32(f.Ifindex), Reply: f.Reply.Key(), Tcp: f.TCP,
	}
}

// CT is enet_ct and enet_ct_new: the assured flows and the others.
type CT struct {
	tupleMap[loader.EnetCtEntry, Flow]
}

func newCT(assured, others *ebpf.Map) CT {
	return CT{tupleMap[loader.EnetCtEntry, Flow]{m: [2]*ebpf.Map{assured, others}, what: "flow", view: flowOf,
		raw: func(f Flow) (loader.EnetCtKey, loader.EnetCtEntry, bool) { return f.Tuple.Key(), f.entry(), f.Assured }}}
}

// CTStateName is how `ebpfnet bpf ct` shows a TCP state: netfilter's
// name, as conntrack -L shows it.
func CTStateName(s loader.EnetCtState) string {
	switch s {
	case loader.EnetCtStateCT_SYN_SENT:
		return "SYN_SENT"
	case loader.EnetCtStateCT_SYN_RECV:
		return "SYN_RECV"
	case loader.EnetCtStateCT_ESTABLISHED:
		return "ESTABLISHED"
	case loader.EnetCtStateCT_FIN_WAIT:
		return "FIN_WAIT"
	case loader.EnetCtStateCT_CLOSE_WAIT:
		return "CLOSE_WAIT"
	case loader.EnetCtStateCT_LAST_ACK:
		return "LAST_ACK"
	case loader.EnetCtStateCT_TIME_WAIT:
		return "TIME_WAIT"
	case loader.EnetCtStateCT_CLOSE:
		return "CLOSE"
	}
	return "NONE"
}
