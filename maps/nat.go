package maps

import (
	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Translation is an enet_nat or enet_nat_new entry: packets arriving as
// Tuple leave as To.
type Translation struct {
	Tuple     Tuple
	To        Tuple
	Flow      Tuple  // the flow's enet_ct key
	CreatedNs uint64 // the flow's CreatedNs: which life of Flow it belongs to
	Reply     bool   // translates the reply direction
	Host      bool   // the node's own flow
	Assured   bool   // in enet_nat, not enet_nat_new
}

func translationOf(k loader.EnetCtKey, v loader.EnetNatEntry, assured bool) Translation {
	return Translation{
		Tuple: tupleOf(k), To: tupleOf(v.To), Flow: tupleOf(v.Flow), CreatedNs: v.CreatedNs,
		Reply:   v.Flags&loader.EnetNatFlagNAT_F_REPLY != 0,
		Host:    v.Flags&loader.EnetNatFlagNAT_F_HOST != 0,
		Assured: assured,
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

// NAT is enet_nat and enet_nat_new: the assured flows' translations and
// the others'.
type NAT struct {
	tupleMap[loader.EnetNatEntry, Translation]
}

func newNAT(assured, others *ebpf.Map) NAT {
	return NAT{tupleMap[loader.EnetNatEntry, Translation]{m: [2]*ebpf.Map{assured, others}, what: "translation",
		view: translationOf,
		raw: func(t Translation) (loader.EnetCtKey, loader.EnetNatEntry, bool) {
			return t.Tuple.Key(), t.entry(), t.Assured
		}}}
}
