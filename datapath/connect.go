package datapath

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vishvananda/netlink"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Connect gives an endpoint an interface on another network (eth1, ...).
func (m *Manager) Connect(ctx context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ep *store.Endpoint
	var n *store.Network
	var ifc *store.Interface
	err := m.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, n, err = endpointAndNetwork(tx, req.Endpoint, network); err != nil {
			return err
		}
		if _, ok := ep.Iface(network); ok {
			return errdefs.Conflict("endpoint %q is already connected to network %q", ep.Name, network)
		}
		name, err := freeIfname(ep)
		if err != nil {
			return err
		}
		if ifc, err = planIface(tx, n, req.IP, name); err != nil {
			return err
		}
		ep.Interfaces = append(ep.Interfaces, *ifc)
		return errors.Join(tx.PutEndpoint(ep), tx.PutNetwork(n))
	})
	if err != nil {
		return nil, err
	}
	if err := m.connectIface(ep, ifc, n); err != nil {
		m.log.Warn("connect failed, rolling back", zapEp(ep.Name), zapNet(network), zapErr(err))
		err = errors.Join(err, m.teardownIface(ep, ifc))
		_ = m.store.Update(func(tx *store.Tx) error {
			ep.Interfaces = ep.Interfaces[:len(ep.Interfaces)-1]
			return tx.PutEndpoint(ep)
		})
		return nil, fmt.Errorf("connect %s to %s: %w", ep.Name, network, err)
	}
	m.log.Info("endpoint connected", zapEp(ep.Name), zapNet(network), zapIf(ifc.Name))
	v := endpointView(ep)
	return &v, nil
}

func (m *Manager) connectIface(ep *store.Endpoint, ifc *store.Interface, n *store.Network) error {
	ns, err := openNetns(ep.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	return m.ensureIface(ep, ifc, n, ns)
}

func endpointAndNetwork(tx *store.Tx, endpoint, network string) (*store.Endpoint, *store.Network, error) {
	if endpoint == "" {
		return nil, nil, errdefs.Invalid("endpoint name is empty")
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
	if err == nil && ep.State != store.StateReady {
		err = errdefs.Conflict("endpoint %q is being removed", endpoint)
	}
	return ep, n, err
}

// freeIfname is the next ethN inside the endpoint that neither ebpfnet nor
// anything else in the namespace uses.
func freeIfname(ep *store.Endpoint) (string, error) {
	taken := map[string]bool{}
	for _, i := range ep.Interfaces {
		taken[i.Name] = true
	}
	ns, err := openNetns(ep.Netns)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	for i := 0; i < 1000; i++ {
		name := "eth" + strconv.Itoa(i)
		if _, err := h.LinkByName(name); taken[name] || err == nil {
			continue
		}
		return name, nil
	}
	return "", errdefs.Limit("endpoint %q has no free interface name", ep.Name)
}

// Disconnect removes an endpoint's interface on a network. If it carried
// the default route, the next interface takes it over, and the endpoint's
// publications with it; with no interface left they go, as a start-up
// would drop them.
func (m *Manager) Disconnect(ctx context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ep *store.Endpoint
	var gone store.Interface
	var moved, dropped []store.Port
	nets := map[string]*store.Network{}
	err := m.store.Update(func(tx *store.Tx) error {
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
		if moved, dropped, err = movePorts(tx, ep, wasFirst); err != nil {
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
	_, err = m.withdrawPorts(dropped, gone.IP)
	err = errors.Join(err, m.teardownIface(ep, &gone))
	if len(ep.Interfaces) > 0 {
		// Idempotent for the rest; gives the new first interface the route.
		err = errors.Join(err, m.ensureEndpoint(ep, nets), m.retargetPorts(moved, publishedTo(ep)))
	}
	if err != nil {
		return nil, fmt.Errorf("disconnect %s from %s: %w", ep.Name, network, err)
	}
	m.log.Info("endpoint disconnected", zapEp(ep.Name), zapNet(network),
		zapInt("ports_moved", len(moved)), zapInt("ports_dropped", len(dropped)))
	v := endpointView(ep)
	return &v, nil
}

// movePorts: when an endpoint's first interface is disconnected, its
// publications lead to the next one (moved), or, with none left, are
// dropped from the store.
func movePorts(tx *store.Tx, ep *store.Endpoint, wasFirst bool) (moved, dropped []store.Port, err error) {
	if !wasFirst {
		return nil, nil, nil
	}
	all := func(store.Port) bool { return true }
	if len(ep.Interfaces) == 0 {
		dropped, err = dropPorts(tx, ep.Name, all)
		return nil, dropped, err
	}
	moved, err = endpointPorts(tx, ep.Name, all)
	return moved, nil, err
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
