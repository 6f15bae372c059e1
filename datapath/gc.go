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
		flows, orphans, err := m.gc()
		if err != nil {
			m.log.Warn("conntrack gc", zapErr(err))
		} else if flows+orphans > 0 {
			m.log.Debug("conntrack gc", zapInt("flows", flows), zapInt("orphans", orphans))
		}
	}
}

// gc removes expired flows, and NAT entries whose flow is gone (the LRU
// maps evict entries one at a time). The datapath already treats an
// expired flow as dead, so a packet racing the removal starts a new flow;
// a flow is removed only if it is still expired when looked at again, so
// one refreshed since the scan stays.
func (m *Manager) gc() (flows, orphans int, err error) {
	now := monotonicNs()
	all, err := m.maps.CT.All()
	if err != nil {
		return 0, 0, err
	}
	live := map[maps.Tuple]bool{}
	for _, f := range all {
		if f.ExpiresNs >= now {
			live[f.Tuple] = true
			continue
		}
		if cur, ok, err := m.maps.CT.Get(f.Tuple); err != nil || !ok || cur.ExpiresNs >= now {
			live[f.Tuple] = ok && cur.ExpiresNs >= now
			continue
		}
		if m.deleteFlow(f) == nil {
			flows++
		}
	}
	nat, err := m.maps.NAT.All()
	if err != nil {
		return flows, 0, err
	}
	for _, t := range nat {
		if live[t.Flow] {
			continue
		}
		// A flow created after the scan is not in live: look again.
		if f, ok, err := m.maps.CT.Get(t.Flow); err != nil || (ok && f.ExpiresNs >= now) {
			continue
		}
		if m.maps.NAT.Delete(t.Tuple) == nil {
			orphans++
		}
	}
	return flows, orphans, nil
}

// deleteFlow removes a flow's two NAT entries and its conntrack entry.
func (m *Manager) deleteFlow(f maps.Flow) error {
	if err := m.maps.NAT.Delete(f.Reply); err != nil {
		return err
	}
	if err := m.maps.NAT.Delete(f.Tuple); err != nil {
		return err
	}
	return m.maps.CT.Delete(f.Tuple)
}

// flushFlows removes every flow match selects, e.g. an endpoint's when it
// goes, so nothing keeps reaching a reused address.
func (m *Manager) flushFlows(match func(maps.Flow) bool) error {
	all, err := m.maps.CT.All()
	if err != nil {
		return err
	}
	for _, f := range all {
		if match(f) {
			if err := m.deleteFlow(f); err != nil {
				return err
			}
		}
	}
	return nil
}
