package inspect

import (
	"context"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/maps"
)

// BPFEndpoints lists enet_endpoints.
func (in *Inspector) BPFEndpoints(context.Context) ([]api.BPFEndpoint, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	entries, err := in.maps.Endpoints.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFEndpoint{}
	for _, e := range entries {
		out = append(out, api.BPFEndpoint{
			IP: e.IP.String(), Ifindex: e.Ifindex, Interface: in.ifname(nm, e.Ifindex), MAC: e.MAC.String(),
			NetID: e.NetID, Network: nm.networks[e.NetID], Endpoint: nm.owners[e.Ifindex],
		})
	}
	slices.SortFunc(out, func(a, b api.BPFEndpoint) int { return compareIP(a.IP, b.IP) })
	return out, nil
}

// BPFNetworks lists enet_networks.
func (in *Inspector) BPFNetworks(context.Context) ([]api.BPFNetwork, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	entries, err := in.maps.Networks.All()
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
func (in *Inspector) BPFStats(context.Context) ([]api.BPFCounter, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	counters, err := in.maps.Stats.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFCounter{}
	for _, c := range counters {
		out = append(out, api.BPFCounter{
			Ifindex: c.Ifindex, Interface: in.ifname(nm, c.Ifindex), Endpoint: nm.owners[c.Ifindex],
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

// BPFPorts lists enet_ports.
func (in *Inspector) BPFPorts(context.Context) ([]api.BPFPort, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	owner := nm.owner()
	entries, err := in.maps.Ports.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFPort{}
	for _, p := range entries {
		ip := "0.0.0.0"
		if p.HostIP.IsValid() {
			ip = p.HostIP.String()
		}
		out = append(out, api.BPFPort{Proto: maps.ProtoName(p.Proto), HostIP: ip, HostPort: p.HostPort,
			Target: p.Target.String(), Endpoint: owner[p.Target.Addr()]})
	}
	slices.SortFunc(out, func(a, b api.BPFPort) int { return int(a.HostPort) - int(b.HostPort) })
	return out, nil
}
