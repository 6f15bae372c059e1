package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Connect gives an endpoint an interface on another network (eth1, ...).
func (c *Control) Connect(_ context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	var ep *store.Endpoint
	var n *store.Network
	var ifc *store.Interface
	var parked []store.Port
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, n, err = endpointAndNetwork(tx, req.Endpoint, network); err != nil {
			return err
		}
		if len(ep.Interfaces) == 0 && n.Bridged() {
			if parked, err = ports.Of(tx, ep.Name, ports.All); err != nil {
				return err
			}
		}
		if _, ok := ep.Iface(network); ok {
			return errdefs.Conflict("endpoint %q is already connected to network %q", ep.Name, network)
		}
		name := req.Ifname
		if name == "" {
			if name, err = c.freeIfname(ep); err != nil {
				return err
			}
		}
		if ifc, err = c.planner().iface(tx, ep, n, ifaceReq{IP: req.IP, Name: name, MAC: req.MAC, Aliases: req.Aliases}); err != nil {
			return err
		}
		ep.Interfaces = append(ep.Interfaces, *ifc)
		return errors.Join(tx.PutEndpoint(ep), tx.PutNetwork(n))
	})
	if err != nil {
		return nil, err
	}
	if err := c.applier().ensureIface(ep, ifc, n); err != nil {
		c.log.Warn("connect failed, rolling back", logf.Ep(ep.Name), logf.Net(network), logf.Err(err))
		kernel := c.applier().teardownIface(ep, ifc)
		stored := c.store.Update(func(tx *store.Tx) error {
			ep.Interfaces = ep.Interfaces[:len(ep.Interfaces)-1]
			return tx.PutEndpoint(ep)
		})
		c.leftBehind("interface "+ifc.Name+" of endpoint "+ep.Name, kernel, stored, logf.Ep(ep.Name), logf.Net(network))
		return nil, fmt.Errorf("connect %s to %s: %w", ep.Name, network, errors.Join(err, kernel))
	}
	if err := c.pub.Reactivate(parked, ports.Target(ep)); err != nil {
		return nil, fmt.Errorf("publish the parked ports of %s: %w", ep.Name, err)
	}
	c.log.Info("endpoint connected", logf.Ep(ep.Name), logf.Net(network), logf.If(ifc.Name),
		logf.Int("ports_unparked", len(parked)))
	v, err := readPorts(c.store, c.endpointView(ep), ep)
	return &v, err
}

// freeIfname is the next ethN inside the endpoint that neither ebpfnet nor
// anything else in the namespace uses.
func (c *Control) freeIfname(ep *store.Endpoint) (string, error) {
	taken := map[string]bool{}
	for _, i := range ep.Interfaces {
		taken[i.Name] = true
	}
	name, err := c.dev.FreeIfname(ep.Netns, taken)
	if errors.Is(err, netdev.ErrNoFreeIfname) {
		return "", errdefs.Limit("endpoint %q has no free interface name", ep.Name)
	}
	return name, err
}

func endpointAndNetwork(tx *store.Tx, endpoint, network string) (*store.Endpoint, *store.Network, error) {
	if endpoint == "" {
		return nil, nil, errdefs.Invalid("endpoint name is empty")
	}
	if mode, _ := modeOf(network); mode != "" {
		return nil, nil, connectError(mode)
	}
	n, err := tx.Network(network)
	if err == nil && n == nil {
		err = errdefs.NotFound("network %q not found", network)
	}
	if err != nil {
		return nil, nil, err
	}
	ep, err := tx.Endpoint(endpoint)
	if err == nil && ep == nil {
		err = errdefs.NotFound("endpoint %q not found", endpoint)
	}
	switch {
	case err != nil:
	case !ep.Plain():
		err = connectError(ep.Mode)
	case ep.Handoff:
		err = handoffError(ep, "connect or disconnect")
	case ep.State == store.StateGone:
		err = goneError(ep)
	case ep.State != store.StateReady:
		err = errdefs.Conflict("endpoint %q is being removed", endpoint)
	}
	return ep, n, err
}

// Disconnect removes an endpoint's interface on a network. If it carried
// the default route, the next interface takes it over, and the endpoint's
// publications with it; with no interface left they go, as a start-up
// would drop them.
func (c *Control) Disconnect(_ context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	var ep *store.Endpoint
	var gone store.Interface
	var moved, parked []store.Port
	nets := map[string]*store.Network{}
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, _, err = endpointAndNetwork(tx, req.Endpoint, network); err != nil {
			return err
		}
		ifc, ok := ep.Iface(network)
		if !ok {
			return errdefs.Conflict("endpoint %q is not connected to network %q", ep.Name, network)
		}
		gone = *ifc
		wasFirst := ep.Interfaces[0].Network == network
		ep.Interfaces = deleteIface(ep.Interfaces, network)
		if moved, parked, err = movePorts(tx, ep, wasFirst); err != nil {
			return err
		}
		if nets, err = networksOf(tx, ep); err != nil {
			return err
		}
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return nil, err
	}
	err = errors.Join(c.pub.Withdraw(parked, gone.IP), c.applier().teardownIface(ep, &gone))
	if len(ep.Interfaces) > 0 {
		// Idempotent for the rest; gives the new first interface the route.
		err = errors.Join(err, c.applier().ensureEndpoint(ep, nets), c.pub.Retarget(moved, ports.Target(ep)))
	}
	if err != nil {
		return nil, fmt.Errorf("disconnect %s from %s: %w", ep.Name, network, err)
	}
	c.log.Info("endpoint disconnected", logf.Ep(ep.Name), logf.Net(network),
		logf.Int("ports_moved", len(moved)), logf.Int("ports_parked", len(parked)))
	v, err := readPorts(c.store, c.endpointView(ep), ep)
	return &v, err
}

// movePorts: when an endpoint's first interface is disconnected, its
// publications follow ports.Target to the next one (moved), or, with none
// left or the next one on a macvlan or ipvlan network, are parked: they stay the endpoint's in the store, out of the
// datapath and with their host ports let go, until it is connected again,
// as Docker keeps a container's port bindings.
func movePorts(tx *store.Tx, ep *store.Endpoint, wasFirst bool) (moved, parked []store.Port, err error) {
	if !wasFirst {
		return nil, nil, nil
	}
	all, err := ports.Of(tx, ep.Name, ports.All)
	if !ports.Target(ep).IsValid() {
		return nil, all, err
	}
	return all, nil, err
}

func deleteIface(ifs []store.Interface, network string) []store.Interface {
	out := ifs[:0:0]
	for _, i := range ifs {
		if i.Network != network {
			out = append(out, i)
		}
	}
	return out
}

// networksOf loads the networks an endpoint is on.
func networksOf(tx *store.Tx, ep *store.Endpoint) (map[string]*store.Network, error) {
	out := map[string]*store.Network{}
	for _, i := range ep.Interfaces {
		n, err := tx.Network(i.Network)
		if err != nil {
			return nil, err
		}
		if n == nil {
			return nil, fmt.Errorf("endpoint %s: network %s is not in the store", ep.Name, i.Network)
		}
		out[i.Network] = n
	}
	return out, nil
}
