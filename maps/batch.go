package maps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// batchChunk is how many entries one batch lookup syscall returns.
const batchChunk = 4096

// dumpAll reads every entry of a hash map in batches: a full conntrack
// table is half a million entries, too many for one syscall each.
func dumpAll[K, V any](m *ebpf.Map, fn func(K, V)) error {
	var cursor ebpf.MapBatchCursor
	keys := make([]K, batchChunk)
	vals := make([]V, batchChunk)
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			fn(keys[i], vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dump %s: %w", mapName(m), err)
		}
	}
}

func mapName(m *ebpf.Map) string {
	if info, err := m.Info(); err == nil {
		return info.Name
	}
	return m.String()
}
