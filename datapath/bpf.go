package datapath

import (
	"context"
	stdmaps "maps"
	"os"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// names resolves datapath ids to what the user calls them.
type names struct {
	networks map[uint32]string
	ifaces   map[int]string // host ifindex -> host device name
	owners   map[int]string // host ifindex -> endpoint
	eps      []store.Endpoint
}

func (m *Manager) names() (names, error) {
	nm := names{networks: map[uint32]string{}, ifaces: map[int]string{}, owners: map[int]string{}}
	err := m.store.View(func(tx *store.Tx) error {
		nets, err := tx.Networks()
		if err != nil {
			return err
		}
		for _, n := range nets {
			nm.networks[n.ID] = n.Name
		}
		nm.eps, err = tx.Endpoints()
		return err
	})
	for _, e := range nm.eps {
		for _, i := range e.Interfaces {
			if l, err := netlink.LinkByName(i.HostName); err == nil {
				nm.ifaces[l.Attrs().Index] = i.HostName
				nm.owners[l.Attrs().Index] = e.Name
			}
		}
	}
	return nm, err
}

func ifname(nm names, idx int) string {
	if n, ok := nm.ifaces[idx]; ok {
		return n
	}
	if l, err := netlink.LinkByIndex(idx); err == nil {
		return l.Attrs().Name
	}
	return ""
}

// BPFEndpoints lists enet_endpoints.
func (m *Manager) BPFEndpoints(ctx context.Context) ([]api.BPFEndpoint, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	entries, err := m.maps.Endpoints.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFEndpoint{}
	for _, e := range entries {
		out = append(out, api.BPFEndpoint{
			IP: e.IP.String(), Ifindex: e.Ifindex, Interface: ifname(nm, e.Ifindex), MAC: e.MAC.String(),
			NetID: e.NetID, Network: nm.networks[e.NetID], Endpoint: nm.owners[e.Ifindex],
		})
	}
	slices.SortFunc(out, func(a, b api.BPFEndpoint) int { return compareIP(a.IP, b.IP) })
	return out, nil
}

// BPFNetworks lists enet_networks.
func (m *Manager) BPFNetworks(ctx context.Context) ([]api.BPFNetwork, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	entries, err := m.maps.Networks.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFNetwork{}
	for _, n := range entries {
		out = append(out, api.BPFNetwork{
			ID: n.ID, Network: nm.networks[n.ID], Subnet: n.Subnet.String(), Gateway: n.Gateway.String(),
			GatewayMAC: n.GatewayMAC.String(), BridgeIfindex: n.BridgeIfindex,
			ICC: n.ICC, Internal: n.Internal, Masquerade: n.Masquerade,
		})
	}
	slices.SortFunc(out, func(a, b api.BPFNetwork) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// BPFStats lists enet_stats.
func (m *Manager) BPFStats(ctx context.Context) ([]api.BPFCounter, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	counters, err := m.maps.Stats.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFCounter{}
	for _, c := range counters {
		out = append(out, api.BPFCounter{
			Ifindex: c.Ifindex, Interface: ifname(nm, c.Ifindex), Endpoint: nm.owners[c.Ifindex],
			Reason: maps.ReasonName(c.Reason), Drop: maps.IsDrop(c.Reason), Packets: c.Packets, Bytes: c.Bytes,
		})
	}
	slices.SortFunc(out, func(a, b api.BPFCounter) int {
		if a.Ifindex != b.Ifindex {
			return a.Ifindex - b.Ifindex
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return out, nil
}

// SetTrace sets what the programs write to enet_events.
func (m *Manager) SetTrace(ctx context.Context, req api.Trace) error {
	var flags loader.EnetConfigFlag
	switch req.Mode {
	case "off":
	case "drops":
		flags = loader.EnetConfigFlagCONFIG_F_TRACE_DROPS
	case "all":
		flags = loader.EnetConfigFlagCONFIG_F_TRACE
	default:
		return api.BadRequest("trace mode %q: want off, drops or all", req.Mode)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.maps.Config.Get()
	if err != nil {
		return err
	}
	c.Flags = c.Flags&^(loader.EnetConfigFlagCONFIG_F_TRACE|loader.EnetConfigFlagCONFIG_F_TRACE_DROPS) | flags
	return m.maps.Config.Set(c)
}

// Status reports the daemon, its programs and how full its maps are.
func (m *Manager) Status(ctx context.Context) (*api.Status, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	st := &api.Status{
		PID: os.Getpid(), Version: Version, BuildID: loader.BuildNumber(), Started: m.started, StateDir: m.cfg.StateDir,
		BPFFS: m.cfg.BPFFS, Socket: m.cfg.Socket, AttachMode: m.attachMode(),
		Programs: []api.Program{}, Networks: len(nm.networks), Endpoints: len(nm.eps),
	}
	if m.uplink != nil {
		st.Uplink = m.uplink.Attrs().Name
	}
	devs := stdmaps.Clone(nm.ifaces)
	if m.uplink != nil {
		devs[m.uplink.Attrs().Index] = m.uplink.Attrs().Name
	}
	for idx, name := range devs {
		atts, _ := loader.Attached(name, idx)
		for _, a := range atts {
			st.Programs = append(st.Programs, api.Program{
				Interface: name, Ifindex: idx, Hook: string(a.Hook), Mode: string(a.Mode),
				Name: loader.ProgramName(a.ProgID), ID: uint32(a.ProgID),
			})
		}
	}
	slices.SortFunc(st.Programs, func(a, b api.Program) int { return strings.Compare(a.Interface, b.Interface) })
	st.Maps = m.mapFill()
	st.Resources = resources()
	st.Drops, st.DropsBy, st.Evicted = m.dropCounts()
	if st.Pools, err = m.poolUse(); err != nil {
		return nil, err
	}
	return st, nil
}

func (m *Manager) mapFill() []api.MapFill {
	all := map[string]*ebpf.Map{
		loader.EnetMapEnetEndpoints: m.dp.EnetEndpoints,
		loader.EnetMapEnetIfaces:    m.dp.EnetIfaces,
		loader.EnetMapEnetNetworks:  m.dp.EnetNetworks,
		loader.EnetMapEnetSubnets:   m.dp.EnetSubnets,
		loader.EnetMapEnetStats:     m.dp.EnetStats,
		loader.EnetMapEnetCt:        m.dp.EnetCt,
		loader.EnetMapEnetNat:       m.dp.EnetNat,
		loader.EnetMapEnetCtNew:     m.dp.EnetCtNew,
		loader.EnetMapEnetNatNew:    m.dp.EnetNatNew,
		loader.EnetMapEnetPorts:     m.dp.EnetPorts,
		loader.EnetMapEnetSockRev:   m.dp.EnetSockRev,
	}
	out := []api.MapFill{}
	for name, mp := range all {
		out = append(out, api.MapFill{Name: name, Type: mp.Type().String(), Entries: countEntries(mp), MaxEntries: mp.MaxEntries()})
	}
	slices.SortFunc(out, func(a, b api.MapFill) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// countEntries walks a map's keys; the maps here are small enough.
func countEntries(mp *ebpf.Map) int {
	n := 0
	var key []byte
	next := make([]byte, mp.KeySize())
	for {
		var cur any
		if key != nil {
			cur = key
		}
		if err := mp.NextKey(cur, &next); err != nil {
			return n
		}
		n++
		key = append(key[:0], next...)
	}
}
