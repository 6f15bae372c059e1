package datapath

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/maps"
)

// monotonicNs is the clock the datapath stamps flows with (bpf_ktime_get_ns).
func monotonicNs() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

func (m *Manager) gcLoop(ctx context.Context) {
	t := time.NewTicker(m.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done, err := m.gc()
		if err != nil {
			m.log.Warn("conntrack gc", zapErr(err))
		} else if done.Flows+done.Orphans > 0 {
			m.log.Debug("conntrack gc", zapInt("flows", done.Flows), zapInt("orphans", done.Orphans))
		}
	}
}

// gc removes expired flows, and NAT entries whose flow is gone, without
// touching a flow the datapath has started on the same tuples meanwhile
// (maps.Collect says how); and the entries of fragmented datagrams that
// never completed.
func (m *Manager) gc() (maps.Collected, error) {
	m.flowMu.Lock()
	defer m.flowMu.Unlock()
	now := monotonicNs()
	done, err := maps.Collect(m.maps.CT, m.maps.NAT, now)
	if err == nil {
		done.Frags, err = maps.CollectFrags(m.maps.Frags, now)
	}
	return done, err
}

// flushFlows removes every flow match selects, e.g. an endpoint's when it
// goes, so nothing keeps reaching a reused address.
func (m *Manager) flushFlows(match func(maps.Flow) bool) error {
	m.flowMu.Lock()
	defer m.flowMu.Unlock()
	all, err := m.maps.CT.All()
	if err != nil {
		return err
	}
	for _, f := range all {
		if match(f) {
			if err := maps.RemoveFlow(m.maps.CT, m.maps.NAT, f); err != nil {
				return err
			}
		}
	}
	return nil
}
