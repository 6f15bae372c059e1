package inspect

import (
	"context"
	stdmaps "maps"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Status reports the daemon, its programs, how full its maps and pools
// are, what it dropped, and what the process holds.
func (in *Inspector) Status(context.Context) (*api.Status, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	d := in.daemon
	df := in.defrag()
	st := &api.Status{
		PID: d.PID, Version: d.Version, BuildID: loader.BuildNumber(), Started: d.Started, StateDir: d.StateDir,
		BPFFS: d.BPFFS, Socket: d.Socket, AttachMode: d.AttachMode(), Defrag: df,
		Programs: in.programs(nm, df), SocketPrograms: in.socketPrograms(), Networks: len(nm.networks), Endpoints: len(nm.eps),
		Maps: mapUse(in.dp), Resources: resources(), Pools: pools(nm), DockerPlugin: d.DockerPlugin, XDP: d.XDP,
	}
	if d.Uplink != nil {
		st.Uplink = d.Uplink.Name
	}
	st.Drops, st.DropsBy, st.Evicted = in.dropCounts()
	return st, nil
}

// defrag is the defragmentation helper, with the netfilter link that
// defragments there.
func (in *Inspector) defrag() api.Defrag {
	df := in.daemon.Defrag
	if !df.On {
		return df
	}
	l, p, err := in.dp.DefragLink()
	if err != nil {
		in.log.Warn("read the defragmentation helper's link", logf.Err(err))
	}
	df.LinkID, df.ProgID = uint32(l), uint32(p)
	return df
}

// programs lists what is attached to the uplink, the bridges, the
// endpoints' veths and the defragmentation helper's veth; the helper's
// netfilter program is its own (api.Defrag).
func (in *Inspector) programs(nm names, df api.Defrag) []api.Program {
	devs := stdmaps.Clone(nm.ifaces)
	for _, n := range nm.nets {
		if idx := in.dev.LinkIndex(n.Bridge); idx > 0 {
			devs[idx] = n.Bridge
		}
	}
	if up := in.daemon.Uplink; up != nil {
		devs[up.Index] = up.Name
	}
	if df.On {
		devs[df.Ifindex] = df.Device
	}
	out := []api.Program{}
	for idx, name := range devs {
		atts, err := loader.Attached(name, idx)
		if err != nil {
			in.log.Warn("list programs", logf.If(name), logf.Err(err))
		}
		for _, a := range atts {
			out = append(out, api.Program{
				Interface: name, Ifindex: idx, Hook: string(a.Hook), Mode: string(a.Mode),
				Name: loader.ProgramName(a.ProgID), ID: uint32(a.ProgID),
			})
		}
	}
	slices.SortFunc(out, func(a, b api.Program) int { return strings.Compare(a.Interface, b.Interface) })
	return out
}

// MapFill is how full every datapath map is, as status shows it: what a
// metrics scrape reads, without the rest of status.
func (in *Inspector) MapFill(context.Context) ([]api.MapFill, error) { return mapUse(in.dp), nil }

func mapUse(dp *loader.Datapath) []api.MapFill {
	out := []api.MapFill{}
	for _, u := range maps.Usage(dp) {
		out = append(out, api.MapFill{Name: u.Name, Type: u.Type, Entries: u.Entries, MaxEntries: u.MaxEntries})
	}
	return out
}

// pools is how much of each network's address pool and bridge ports its
// endpoints take: the limits the orchestrator refuses a new interface at.
func pools(nm names) []api.NetworkUse {
	out := []api.NetworkUse{}
	for _, n := range nm.nets {
		pool := ipam.Pool{Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway}
		used := store.AddrsOn(nm.eps, n.Name)
		taken, free := pool.Use(used)
		out = append(out, api.NetworkUse{Network: n.Name, Pool: n.PoolName(), Addresses: taken, FreeAddresses: free,
			BridgePorts: len(used), MaxBridgePorts: netdev.MaxBridgePorts})
	}
	return out
}

// dropCounts sums enet_stats: every drop, drops per reason, and packets of
// evicted flows.
func (in *Inspector) dropCounts() (drops uint64, by map[string]uint64, evicted uint64) {
	by = map[string]uint64{}
	counters, err := in.maps.Stats.All()
	if err != nil {
		in.log.Warn("read enet_stats", logf.Err(err))
		return 0, by, 0
	}
	for _, c := range counters {
		switch {
		case maps.IsDrop(c.Reason):
			drops += c.Packets
			by[maps.ReasonName(c.Reason)] += c.Packets
		case maps.IsEvicted(c.Reason):
			evicted += c.Packets
		}
	}
	return drops, by, evicted
}
