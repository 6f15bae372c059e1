package datapath

import (
	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// poolUse is how much of each network's address pool and bridge ports its
// endpoints take: the limits planIface refuses a new interface at.
func (m *Manager) poolUse() ([]api.NetworkUse, error) {
	nets, eps, err := m.networksAndEndpoints()
	out := []api.NetworkUse{}
	for _, n := range nets {
		pool := ipam.Pool{Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway}
		used := usedAddrs(eps, n.Name)
		taken, free := pool.Use(used)
		out = append(out, api.NetworkUse{Network: n.Name, Pool: poolName(&n), Addresses: taken, FreeAddresses: free,
			BridgePorts: len(used), MaxBridgePorts: maxBridgePorts})
	}
	return out, err
}

// dropCounts sums enet_stats: every drop, drops per reason, and packets of
// evicted flows.
func (m *Manager) dropCounts() (drops uint64, by map[string]uint64, evicted uint64) {
	by = map[string]uint64{}
	counters, err := m.maps.Stats.All()
	if err != nil {
		m.log.Warn("read enet_stats", zapErr(err))
		return 0, by, 0
	}
	for _, c := range counters {
		switch {
		case maps.IsDrop(c.Reason):
			drops += c.Packets
			by[maps.ReasonName(c.Reason)] += c.Packets
		case c.Reason == loader.EnetReasonREASON_FLOW_EVICTED:
			evicted += c.Packets
		}
	}
	return drops, by, evicted
}
