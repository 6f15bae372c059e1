package maps

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
)

// GCGrace is how long after a flow expired, or after a translation was
// written, the GC waits before it may remove them. One run of a datapath
// program, which decides and writes, is far shorter, so a flow the GC
// removes is not one the datapath is refreshing (it refreshes only flows
// it found live), and a translation without its conntrack entry is not
// one of a flow being created (bpf/lib/flow.h writes the reply entry, the
// forward entry, then the conntrack entry).
const GCGrace = time.Second

// Table is enet_ct (V is Flow) or enet_nat (V is Translation) as the GC
// uses it. The BPF_PROG_RUN tests wrap one to play the datapath's part
// between the GC's steps.
type Table[V any] interface {
	Each(fn func(V) error) error
	Get(Tuple) (V, bool, error)
	Take(Tuple) (V, bool, error)
	Restore(V) error
}

// Collected is what one pass of the GC removed.
type Collected struct {
	Flows   int // expired flows, each with its translations
	Orphans int // translations whose flow was gone
	Frags   int // entries of fragmented datagrams that expired (CollectFrags)
}

// Collect removes the flows that expired GCGrace before now
// (CLOCK_MONOTONIC ns) with their translations, and the translations
// older than GCGrace whose flow is gone or expired (the LRU maps evict
// entries one at a time), while the datapath runs: it treats a dead
// flow's tuples as free and may write a new flow over them at any moment.
// So nothing is deleted on what an earlier read said: see takeIf.
func Collect(ct Table[Flow], nat Table[Translation], now uint64) (Collected, error) {
	return CollectEnded(ct, nat, now, nil)
}

// CollectEnded is Collect, telling ended (when not nil) of every flow it
// removes, as last read.
func CollectEnded(ct Table[Flow], nat Table[Translation], now uint64, ended func(Flow)) (Collected, error) {
	var done Collected
	grace := uint64(GCGrace)
	dead := func(f Flow) bool { return f.ExpiresNs+grace < now }
	// The tables are walked a batch at a time and only the live flows'
	// keys kept: a full enet_ct and enet_nat read whole would be hundreds
	// of MiB held by the daemon.
	live := map[loader.EnetCtKey]struct{}{}
	err := ct.Each(func(f Flow) error {
		if !dead(f) {
			live[f.Tuple.Key()] = struct{}{}
			return nil
		}
		removed, err := removeFlow(ct, nat, f, func(cur Flow) bool { return cur.CreatedNs == f.CreatedNs && dead(cur) })
		if removed {
			done.Flows++
			if ended != nil {
				ended(f)
			}
		}
		return err
	})
	if err != nil {
		return done, err
	}
	// An orphan: old enough not to be a flow in the making, and its flow,
	// read when the translation is, gone or long expired. A live flow
	// keeps every translation that names it, as the datapath's lookups do.
	orphan := func(tr Translation) (bool, error) {
		if tr.CreatedNs+grace >= now {
			return false, nil
		}
		f, ok, err := ct.Get(tr.Flow)
		return err == nil && (!ok || dead(f)), err
	}
	err = nat.Each(func(tr Translation) error {
		if _, ok := live[tr.Flow.Key()]; ok {
			return nil
		}
		removed, err := takeIf(nat, tr.Tuple, orphan)
		if removed {
			done.Orphans++
		}
		return err
	})
	return done, err
}

// RemoveFlow removes f, as read from enet_ct, with its translations; a
// newer flow on the same tuples stays.
func RemoveFlow(ct Table[Flow], nat Table[Translation], f Flow) error {
	_, err := removeFlow(ct, nat, f, func(cur Flow) bool { return cur.CreatedNs == f.CreatedNs })
	return err
}

// removeFlow removes f's conntrack entry if it is still the one meant,
// then the translations of this life of f: once its conntrack entry is
// gone the datapath takes them for dead too. It reports whether it
// removed the conntrack entry.
func removeFlow(ct Table[Flow], nat Table[Translation], f Flow, meant func(Flow) bool) (bool, error) {
	removed, err := takeIf(ct, f.Tuple, func(cur Flow) (bool, error) { return meant(cur), nil })
	if err != nil || !removed {
		return false, err
	}
	ours := func(tr Translation) (bool, error) { return tr.Flow == f.Tuple && tr.CreatedNs == f.CreatedNs, nil }
	for _, k := range []Tuple{f.Reply, f.Tuple} {
		if _, err := takeIf(nat, k, ours); err != nil {
			return true, err
		}
	}
	return true, nil
}

// takeIf removes the entry at k if it is the one meant. There is no
// compare-and-delete for BPF maps, so it reads the entry just before,
// takes it out in one step (BPF_MAP_LOOKUP_AND_DELETE_ELEM), and puts back
// what it took if that is not the one meant after all: the datapath wrote
// another over it in between. It reports whether it removed the entry.
func takeIf[V any](m Table[V], k Tuple, meant func(V) (bool, error)) (bool, error) {
	cur, ok, err := m.Get(k)
	if err != nil || !ok {
		return false, err
	}
	if yes, err := meant(cur); err != nil || !yes {
		return false, err
	}
	got, ok, err := m.Take(k)
	if err != nil || !ok {
		return false, err
	}
	yes, err := meant(got)
	if err != nil || !yes {
		return false, errors.Join(err, m.Restore(got))
	}
	return true, nil
}

// MonotonicNs is now on the clock the datapath stamps flows with
// (bpf_ktime_get_ns: CLOCK_MONOTONIC).
func MonotonicNs() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return uint64(ts.Nano())
}
