package control

import (
	"fmt"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// firstNetwork splits a create request on several networks (Networks)
// into one on the first, which planner.endpoint plans, and the rest,
// which moreIfaces adds. A request on one network (Network and IP) has
// no rest.
func firstNetwork(req api.EndpointCreate) (api.EndpointCreate, []api.EndpointNetwork, error) {
	if len(req.Networks) == 0 {
		return req, nil, nil
	}
	if req.Network != "" || req.IP != "" || len(req.Aliases) > 0 {
		return req, nil, errdefs.Invalid("network, ip and aliases cannot be given with networks: give each network's in networks")
	}
	seen := map[string]bool{}
	for i, n := range req.Networks {
		if n.Name == "" {
			return req, nil, errdefs.Invalid("networks[%d]: network name is empty", i)
		}
		if seen[n.Name] {
			return req, nil, errdefs.Invalid("network %q is specified multiple times", n.Name)
		}
		seen[n.Name] = true
	}
	if req.Ifname != "" || req.MAC != "" {
		return req, nil, errdefs.Invalid("ifname and mac cannot be given with networks: give each network's in networks")
	}
	first := req
	n0 := req.Networks[0]
	first.Network, first.IP, first.Ifname, first.MAC, first.Networks = n0.Name, n0.IP, n0.Ifname, n0.MAC, nil
	first.Aliases = n0.Aliases
	return first, req.Networks[1:], nil
}

// moreIfaces plans a new endpoint's interfaces on the networks after its
// first, eth1, eth2, ... in order, and advances each network's cursor. It
// returns the networks, to be stored with the endpoint.
func (p planner) moreIfaces(tx *store.Tx, ep *store.Endpoint, more []api.EndpointNetwork) ([]*store.Network, error) {
	var nets []*store.Network
	for _, m := range more {
		n, err := networkOrDefault(tx, m.Name)
		if err != nil {
			return nil, err
		}
		if _, ok := ep.Iface(n.Name); ok {
			return nil, errdefs.Invalid("network %q is specified multiple times", n.Name)
		}
		name := m.Ifname
		if name == "" {
			name = p.nextIfname(ep)
		}
		ifc, err := p.iface(tx, ep, n, ifaceReq{IP: m.IP, Name: name, MAC: m.MAC, Aliases: m.Aliases})
		if err != nil {
			return nil, err
		}
		ep.Interfaces = append(ep.Interfaces, *ifc)
		nets = append(nets, n)
	}
	return nets, nil
}

// nextIfname is ethN for the endpoint's next interface: in an adopted
// namespace, the first its devices leave free; in a namespace ebpfnet
// creates, the next number.
func (p planner) nextIfname(ep *store.Endpoint) string {
	taken := map[string]bool{}
	for _, i := range ep.Interfaces {
		taken[i.Name] = true
	}
	if !ep.OwnNetns {
		if name, err := p.dev.FreeIfname(ep.Netns, taken); err == nil {
			return name
		}
	}
	for i := 0; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !taken[name] {
			return name
		}
	}
}

// putNetworks stores the networks a new endpoint joined, with their
// cursors advanced.
func putNetworks(tx *store.Tx, first *store.Network, more []*store.Network) error {
	if err := tx.PutNetwork(first); err != nil {
		return err
	}
	for _, n := range more {
		if err := tx.PutNetwork(n); err != nil {
			return err
		}
	}
	return nil
}

// byName indexes a new endpoint's networks for the applier.
func byName(first *store.Network, more []*store.Network) map[string]*store.Network {
	out := map[string]*store.Network{first.Name: first}
	for _, n := range more {
		out[n.Name] = n
	}
	return out
}
