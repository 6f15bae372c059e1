package maps

import (
	"fmt"

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
type NAT struct{ *ebpf.Map }

// All lists every translation.
func (m NAT) All() ([]Translation, error) {
	var out []Translation
	err := dumpAll(m.Map, func(k loader.EnetCtKey, v loader.EnetNatEntry) { out = append(out, translationOf(k, v)) })
	return out, err
}

// Get reads one translation; ok is false when there is none.
func (m NAT) Get(t Tuple) (Translation, bool, error) {
	v, ok, err := lookup[loader.EnetNatEntry](m.Map.Lookup, t)
	if err != nil {
		return Translation{}, false, fmt.Errorf("look up translation %v: %w", t, err)
	}
	return translationOf(t.Key(), v), ok, nil
}

// Take removes a translation and returns what it was, in one step: what
// is removed is what is returned, whatever the datapath wrote meanwhile.
func (m NAT) Take(t Tuple) (Translation, bool, error) {
	v, ok, err := lookup[loader.EnetNatEntry](m.Map.LookupAndDelete, t)
	if err != nil {
		return Translation{}, false, fmt.Errorf("take translation %v: %w", t, err)
	}
	return translationOf(t.Key(), v), ok, nil
}

// Restore puts back a translation Take removed, unless the datapath has
// written its key since: then the datapath's entry is the newer.
func (m NAT) Restore(t Translation) error {
	k, v := t.Tuple.Key(), t.entry()
	return ignoreExist(m.Map.Update(&k, &v, ebpf.UpdateNoExist))
}

// Delete removes a translation; a missing one is not an error.
func (m NAT) Delete(t Tuple) error {
	k := t.Key()
	return ignoreNotExist(m.Map.Delete(&k))
}
