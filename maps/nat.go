package maps

import (
	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Translation is an enet_nat entry: packets arriving as Tuple leave as To.
type Translation struct {
	Tuple     Tuple
	To        Tuple
	Flow      Tuple  // the flow's enet_ct key
	CreatedNs uint64 // the flow's CreatedNs: which life of Flow it belongs to
	Reply     bool   // translates the reply direction
	Host      bool   // the node's own flow
}

func translationOf(k loader.EnetCtKey, v loader.EnetNatEntry) Translation {
	return Translation{
		Tuple: tupleOf(k), To: tupleOf(v.To), Flow: tupleOf(v.Flow), CreatedNs: v.CreatedNs,
		Reply: v.Flags&loader.EnetNatFlagNAT_F_REPLY != 0,
		Host:  v.Flags&loader.EnetNatFlagNAT_F_HOST != 0,
	}
}

func (t Translation) entry() loader.EnetNatEntry {
	v := loader.EnetNatEntry{CreatedNs: t.CreatedNs, To: t.To.Key(), Flow: t.Flow.Key()}
	if t.Reply {
		v.Flags |= loader.EnetNatFlagNAT_F_REPLY
	}
	if t.Host {
		v.Flags |= loader.EnetNatFlagNAT_F_HOST
	}
	return v
}

// NAT is enet_nat.
type NAT struct {
	tupleMap[loader.EnetNatEntry, Translation]
}

func newNAT(m *ebpf.Map) NAT {
	return NAT{tupleMap[loader.EnetNatEntry, Translation]{m: m, what: "translation", view: translationOf,
		raw: func(t Translation) (loader.EnetCtKey, loader.EnetNatEntry) { return t.Tuple.Key(), t.entry() }}}
}
