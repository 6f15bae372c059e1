// Package flows takes flows out of the datapath's conntrack and NAT
// tables: the periodic collection of expired flows (masquerade, published
// ports, the node's own) and the flushes that go with removing an
// endpoint or a publication, so nothing keeps reaching a reused address.
// maps.Collect and maps.RemoveFlow say how an entry is removed without
// touching a flow the datapath starts meanwhile on the same tuples.
package flows

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Table is enet_ct with enet_nat, as the daemon removes flows from them,
// and enet_frags, whose records of datagrams that never completed it
// removes with them.
type Table struct {
	ct    maps.CT
	nat   maps.NAT
	frags maps.Frags
	// mu lets one of the GC and a flush at a time take flows out: each
	// puts back what it took by mistake, which the other must not miss.
	mu sync.Mutex
	// ended hears of every flow taken out; nil: nobody.
	ended func(f maps.Flow, now uint64)
}

// OnEnded has fn told of every flow the GC or a flush takes out, with the
// CLOCK_MONOTONIC time it was taken; called before Run starts.
func (t *Table) OnEnded(fn func(f maps.Flow, now uint64)) { t.ended = fn }

// New is the table of a loaded datapath's maps.
func New(m *maps.Set) *Table { return &Table{ct: m.CT, nat: m.NAT, frags: m.Frags} }

// Collect removes expired flows, NAT entries whose flow is gone, and
// expired fragment records.
func (t *Table) Collect() (maps.Collected, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := maps.MonotonicNs()
	var ended func(maps.Flow)
	if t.ended != nil {
		ended = func(f maps.Flow) { t.ended(f, now) }
	}
	done, err := maps.CollectEnded(t.ct, t.nat, now, ended)
	if err == nil {
		done.Frags, err = maps.CollectFrags(t.frags, now)
	}
	return done, err
}

// Flush removes every flow match selects, with its translations.
func (t *Table) Flush(match func(maps.Flow) bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ct.Each(func(f maps.Flow) error {
		if !match(f) {
			return nil
		}
		if t.ended != nil {
			t.ended(f, maps.MonotonicNs())
		}
		return maps.RemoveFlow(t.ct, t.nat, f)
	})
}

// Observer hears of every collection Run makes: how long it took, what
// it removed, or its error.
type Observer func(took time.Duration, done maps.Collected, err error)

// Run collects every interval until ctx ends, telling observe of each
// collection (nil: nobody).
func (t *Table) Run(ctx context.Context, interval time.Duration, log *zap.Logger, observe Observer) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		done, err := t.Collect()
		if observe != nil {
			observe(time.Since(start), done, err)
		}
		if err != nil {
			log.Warn("conntrack gc", logf.Err(err))
		} else if done.Flows+done.Orphans+done.Frags > 0 {
			log.Debug("conntrack gc", logf.Int("flows", done.Flows), logf.Int("orphans", done.Orphans),
				logf.Int("fragments", done.Frags))
		}
	}
}
