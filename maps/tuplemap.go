package maps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// tupleMap is a pair of maps keyed by a flow tuple, enet_ct and
// enet_ct_new or enet_nat and enet_nat_new, that the datapath writes while
// the daemon reads them: R is the generated value type and V the view of
// an entry (Flow, Translation). The first map holds assured flows, the
// second the others (bpf/lib/flow.h moves a flow between them); the view
// says which an entry came from, so Restore puts it back there. Take and
// Restore are what the GC's compare-and-delete is made of (gc.go).
type tupleMap[R, V any] struct {
	m    [2]*ebpf.Map                                  // assured, others
	what string                                        // an entry, as errors name it
	view func(k loader.EnetCtKey, r R, assured bool) V // an entry as the daemon sees it
	raw  func(V) (loader.EnetCtKey, R, bool)           // and back, for Restore
}

func (t tupleMap[R, V]) index(assured bool) int {
	if assured {
		return 0
	}
	return 1
}

// All lists every entry of both maps.
func (t tupleMap[R, V]) All() ([]V, error) {
	var out []V
	for i, m := range t.m {
		err := dumpAll(m, func(k loader.EnetCtKey, v R) { out = append(out, t.view(k, v, i == 0)) })
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Each hands fn every entry of both maps, a batch at a time, so no
// listing of a whole table is ever in memory; fn may remove entries (a
// batch's cursor is a bucket, which removals do not move). The first
// error fn returns ends the walk.
func (t tupleMap[R, V]) Each(fn func(V) error) error {
	for i, m := range t.m {
		var ferr error
		err := dumpAll(m, func(k loader.EnetCtKey, v R) {
			if ferr == nil {
				ferr = fn(t.view(k, v, i == 0))
			}
		})
		if err := errors.Join(ferr, err); err != nil {
			return err
		}
	}
	return nil
}

// Get reads one entry, an assured flow's first; ok is false when there is
// none.
func (t tupleMap[R, V]) Get(k Tuple) (V, bool, error) {
	return t.lookup("look up", func(m *ebpf.Map) func(key, valueOut any) error { return m.Lookup }, k)
}

// Take removes an entry, an assured flow's first, and returns what it
// was, in one step: what is removed is what is returned, whatever the
// datapath wrote meanwhile.
func (t tupleMap[R, V]) Take(k Tuple) (V, bool, error) {
	return t.lookup("take", func(m *ebpf.Map) func(key, valueOut any) error { return m.LookupAndDelete }, k)
}

// Restore puts back an entry Take removed, into the map it came from,
// unless the datapath has written its key there since: then the
// datapath's entry is the newer.
func (t tupleMap[R, V]) Restore(v V) error {
	k, r, assured := t.raw(v)
	return ignoreExist(t.m[t.index(assured)].Update(&k, &r, ebpf.UpdateNoExist))
}

// Delete removes an entry from both maps; a missing one is not an error.
func (t tupleMap[R, V]) Delete(k Tuple) error {
	key := k.Key()
	return errors.Join(ignoreNotExist(t.m[0].Delete(&key)), ignoreNotExist(t.m[1].Delete(&key)))
}

// lookup runs op, the maps' Lookup or LookupAndDelete, on k in the first
// map that has it; ok is false when neither has.
func (t tupleMap[R, V]) lookup(verb string, op func(*ebpf.Map) func(key, valueOut any) error, k Tuple) (V, bool, error) {
	var zero V
	key := k.Key()
	for i, m := range t.m {
		var r R
		err := op(m)(&key, &r)
		if err == nil {
			return t.view(key, r, i == 0), true, nil
		}
		if ignoreNotExist(err) != nil {
			return zero, false, fmt.Errorf("%s %s %v: %w", verb, t.what, k, err)
		}
	}
	return zero, false, nil
}
