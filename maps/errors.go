package maps

import (
	"errors"

	"github.com/cilium/ebpf"
)

func ignoreNotExist(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

func ignoreExist(err error) error {
	if errors.Is(err, ebpf.ErrKeyExist) {
		return nil
	}
	return err
}

// lookup runs op, a map's Lookup or LookupAndDelete, on t's key; ok is
// false when there is no entry.
func lookup[V any](op func(key, valueOut any) error, t Tuple) (V, bool, error) {
	var v V
	k := t.Key()
	err := op(&k, &v)
	if ignoreNotExist(err) != nil {
		return v, false, err
	}
	return v, err == nil, nil
}
