package maps

import (
	"strconv"

	"github.com/ebpfnet/ebpfnet/loader"
)

// What a flow is, from its flags (enum ct_flag in bpf/lib/maps.h).

// Masquerade: an endpoint's flow out, source-translated and nothing else.
func (f Flow) Masquerade() bool {
	return f.Flags&loader.EnetCtFlagCT_F_SNAT != 0 && f.Flags&loader.EnetCtFlagCT_F_DNAT == 0
}

// Published: a flow in through a published port (DNAT), hairpin included.
func (f Flow) Published() bool { return f.Flags&loader.EnetCtFlagCT_F_DNAT != 0 }

// Hairpin: an endpoint's flow to a published port, back to an endpoint.
func (f Flow) Hairpin() bool {
	return f.Flags&loader.EnetCtFlagCT_F_SNAT != 0 && f.Flags&loader.EnetCtFlagCT_F_DNAT != 0
}

// Node: the node's own flow, recorded to keep its port.
func (f Flow) Node() bool { return f.Flags&loader.EnetCtFlagCT_F_HOST != 0 }

// SeenReply: the flow's other side has answered.
func (f Flow) SeenReply() bool { return f.Flags&loader.EnetCtFlagCT_F_SEEN_REPLY != 0 }

// FlagNames are the flow's flags as `ebpfnet bpf ct` shows them.
func (f Flow) FlagNames() []string {
	names := []string{}
	for _, n := range []struct {
		bit  loader.EnetCtFlag
		name string
	}{
		{loader.EnetCtFlagCT_F_SEEN_REPLY, "seen-reply"},
		{loader.EnetCtFlagCT_F_HOST, "host"},
		{loader.EnetCtFlagCT_F_SNAT, "snat"},
		{loader.EnetCtFlagCT_F_DNAT, "dnat"},
		{loader.EnetCtFlagCT_F_ASSURED, "assured"},
	} {
		if f.Flags&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// StateName is a TCP flow's state, or whether a UDP or ICMP flow has seen
// a reply, as conntrack -L shows.
func (f Flow) StateName() string {
	if f.Tuple.Proto == protoTCP {
		return CTStateName(f.State)
	}
	if f.SeenReply() {
		return "replied"
	}
	return "unreplied"
}

const protoTCP = 6

// protoNames are the IP protocols listings name; others show as numbers.
var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 50: "esp", 132: "sctp",
	136: "udplite"}

// ProtoName is an IP protocol number as listings name it.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}
