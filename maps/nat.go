package maps

import (
	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Translation is an enet_nat entry: packets arriving as Tuple leave as To.
type Translation struct {
	Tuple Tuple
	To    Tuple
	Flow  Tuple // the flow's enet_ct key
	Reply bool  // translates the reply direction
	Host  bool  // the node's own flow
}

// NAT is enet_nat.
type NAT struct{ *ebpf.Map }

// All lists every translation.
func (m NAT) All() ([]Translation, error) {
	var out []Translation
	err := dumpAll(m.Map, func(k loader.EnetCtKey, v loader.EnetNatEntry) {
		out = append(out, Translation{
			Tuple: tupleOf(k), To: tupleOf(v.To), Flow: tupleOf(v.Flow),
			Reply: v.Flags&loader.EnetNatFlagNAT_F_REPLY != 0,
			Host:  v.Flags&loader.EnetNatFlagNAT_F_HOST != 0,
		})
	})
	return out, err
}

// Delete removes a translation; a missing one is not an error.
func (m NAT) Delete(t Tuple) error {
	k := t.Key()
	return ignoreNotExist(m.Map.Delete(&k))
}
