package maps

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// tupleMap is a map keyed by a flow tuple, enet_ct or enet_nat, that the
// datapath writes while the daemon reads it: R is the generated value type
// and V the view of an entry (Flow, Translation). Take and Restore are
// what the GC's compare-and-delete is made of (gc.go).
type tupleMap[R, V any] struct {
	m    *ebpf.Map
	what string                        // an entry, as errors name it
	view func(loader.EnetCtKey, R) V   // an entry as the daemon sees it
	raw  func(V) (loader.EnetCtKey, R) // and back, for Restore
}

// All lists every entry.
func (t tupleMap[R, V]) All() ([]V, error) {
	var out []V
	err := dumpAll(t.m, func(k loader.EnetCtKey, v R) { out = append(out, t.view(k, v)) })
	return out, err
}

// Get reads one entry; ok is false when there is none.
func (t tupleMap[R, V]) Get(k Tuple) (V, bool, error) {
	return t.lookup("look up", t.m.Lookup, k)
}

// Take removes an entry and returns what it was, in one step: what is
// removed is what is returned, whatever the datapath wrote meanwhile.
func (t tupleMap[R, V]) Take(k Tuple) (V, bool, error) {
	return t.lookup("take", t.m.LookupAndDelete, k)
}

// Restore puts back an entry Take removed, unless the datapath has written
// its key since: then the datapath's entry is the newer.
func (t tupleMap[R, V]) Restore(v V) error {
	k, r := t.raw(v)
	return ignoreExist(t.m.Update(&k, &r, ebpf.UpdateNoExist))
}

// Delete removes an entry; a missing one is not an error.
func (t tupleMap[R, V]) Delete(k Tuple) error {
	key := k.Key()
	return ignoreNotExist(t.m.Delete(&key))
}

// lookup runs op, the map's Lookup or LookupAndDelete, on k; ok is false
// when there is no entry.
func (t tupleMap[R, V]) lookup(verb string, op func(key, valueOut any) error, k Tuple) (V, bool, error) {
	var r R
	key := k.Key()
	err := op(&key, &r)
	if ignoreNotExist(err) != nil {
		var zero V
		return zero, false, fmt.Errorf("%s %s %v: %w", verb, t.what, k, err)
	}
	return t.view(key, r), err == nil, nil
}
