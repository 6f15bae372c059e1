package daemon

import (
	"context"
	"fmt"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/monitor"
	"github.com/ebpfnet/ebpfnet/maps"
)

// monitorBuffer is how many events a monitor may fall behind by before
// it loses them.
const monitorBuffer = 4096

// startMonitor makes the hub that `ebpfnet monitor` attaches to, and has
// the conntrack GC and the flushes tell it of ended flows while a monitor
// listens.
func (d *daemon) startMonitor() error {
	d.monitor = monitor.New(hubMaps{d.maps}, d.maps.Events, d.inspector().MonitorNames, d.log)
	if err := d.monitor.Start(); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	d.flows.OnEnded(func(f maps.Flow, now uint64) {
		if d.monitor.Active() {
			d.monitor.FlowEnd(f, now)
		}
	})
	return nil
}

// hubMaps is the hub's view of the maps.
type hubMaps struct{ m *maps.Set }

func (h hubMaps) Events() (maps.EventsBits, error)  { return h.m.Config.Events() }
func (h hubMaps) SetEvents(b maps.EventsBits) error { return h.m.Config.SetEvents(b) }

// EventsLost sums event-lost over enet_stats.
func (h hubMaps) EventsLost() (uint64, error) {
	counters, err := h.m.Stats.All()
	var n uint64
	for _, c := range counters {
		if maps.ReasonName(c.Reason) == "event-lost" {
			n += c.Packets
		}
	}
	return n, err
}

// Monitor attaches a monitor to the datapath's events.
func (b backend) Monitor(_ context.Context, f api.MonitorFilter) (api.MonitorStream, error) {
	filter, err := monitor.FilterOf(f)
	if err != nil {
		return nil, err
	}
	return b.d.monitor.Subscribe(filter, monitorBuffer)
}

// SetTrace sets `bpf trace`'s mode; the monitors' wants hold beside it.
func (b backend) SetTrace(_ context.Context, req api.Trace) error {
	switch req.Mode {
	case "off", "drops", "all":
	default:
		return errdefs.Invalid("trace mode %q: want off, drops or all", req.Mode)
	}
	return b.d.monitor.SetTrace(req.Mode)
}
