package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

func (c *Control) planner() planner { return planner{dev: c.dev, cfg: c.cfg} }
func (c *Control) applier() applier { return applier{dev: c.dev, dp: c.dp} }

// CreateNetwork creates a network: store first, then the kernel, undoing
// both if the kernel refuses.
func (c *Control) CreateNetwork(_ context.Context, req api.NetworkCreate) (*api.Network, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	return c.createNetwork(req, false)
}

func (c *Control) createNetwork(req api.NetworkCreate, isDefault bool) (*api.Network, error) {
	var n *store.Network
	err := c.store.Update(func(tx *store.Tx) error {
		existing, err := tx.Networks()
		if err != nil {
			return err
		}
		if n, err = c.planner().network(req, existing); err != nil {
			return err
		}
		n.Default = isDefault
		return tx.PutNetwork(n)
	})
	if err != nil {
		return nil, err
	}
	err = c.applier().ensureNetwork(n)
	if err == nil && !n.Bridged() {
		// Learn now, not at its first endpoint, whether the kernel has the kind.
		err = kernelFeature(c.dev.ProbeSub(n.Driver, n.Parent))
	}
	if err != nil {
		c.log.Warn("network create failed, rolling back", logf.Net(n.Name), logf.Err(err))
		kernel := c.applier().teardownNetwork(n)
		stored := c.store.Update(func(tx *store.Tx) error { return tx.DeleteNetwork(n.Name) })
		c.leftBehind("network "+n.Name, kernel, stored, logf.Net(n.Name))
		return nil, fmt.Errorf("create network %s: %w", n.Name, errors.Join(err, kernel))
	}
	c.log.Info("network created", logf.Net(n.Name), logf.Str("subnet", n.Subnet.String()), logf.Str("bridge", n.Bridge))
	v := networkView(n, nil)
	return &v, nil
}

// EnsureDefaultNetwork creates the default network, "bridge" on enet0, if
// the store has none; one that exists keeps its subnet.
func (c *Control) EnsureDefaultNetwork() error {
	var def *store.Network
	err := c.store.View(func(tx *store.Tx) error {
		nets, err := tx.Networks()
		for i := range nets {
			if nets[i].Default {
				def = &nets[i]
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if def != nil {
		if c.cfg.DefaultSubnet != "" && def.Subnet.String() != c.cfg.DefaultSubnet {
			return fmt.Errorf("the default network has subnet %s, not %s: it cannot change while it exists "+
				"(`ebpfnet system reset` starts over)", def.Subnet, c.cfg.DefaultSubnet)
		}
		return nil
	}
	c.mu.Lock()
	defer c.unlock()
	_, err = c.createNetwork(api.NetworkCreate{Name: DefaultNetwork, Subnet: c.cfg.DefaultSubnet, Bridge: DefaultBridge}, true)
	if err != nil {
		return fmt.Errorf("default network: %w", err)
	}
	return nil
}

// Networks lists networks.
func (c *Control) Networks(context.Context) ([]api.Network, error) {
	nets, eps, err := c.store.NetworksAndEndpoints()
	out := []api.Network{}
	for i := range nets {
		out = append(out, networkView(&nets[i], endpointsOn(eps, nets[i].Name)))
	}
	return out, err
}

func endpointsOn(eps []store.Endpoint, network string) []string {
	var names []string
	for _, e := range eps {
		if _, ok := e.Iface(network); ok && e.State != store.StateRemoving {
			names = append(names, e.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Network inspects one network.
func (c *Control) Network(_ context.Context, name string) (*api.Network, error) {
	var out *api.Network
	err := c.store.View(func(tx *store.Tx) error {
		n, err := tx.Network(name)
		if err != nil {
			return err
		}
		if n == nil {
			return errdefs.NotFound("network %q not found", name)
		}
		eps, err := tx.Endpoints()
		if err != nil {
			return err
		}
		v := networkView(n, endpointsOn(eps, name))
		out = &v
		return nil
	})
	return out, err
}

// RemoveNetwork removes a network that has no endpoints.
func (c *Control) RemoveNetwork(_ context.Context, name string) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer c.unlock()
	var n *store.Network
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if n, err = tx.Network(name); err != nil {
			return err
		}
		if n == nil {
			return errdefs.NotFound("network %q not found", name)
		}
		if n.Default {
			return errdefs.Conflict("network %q is the default network and cannot be removed", name)
		}
		eps, err := tx.EndpointsOn(name)
		if err != nil {
			return err
		}
		if len(eps) > 0 {
			return errdefs.Conflict("network %q has %d endpoint(s): %s; remove or disconnect them first",
				name, len(eps), strings.Join(endpointsOn(eps, name), ", "))
		}
		return tx.DeleteNetwork(name)
	})
	if err != nil {
		return err
	}
	c.log.Info("network removed", logf.Net(name))
	return c.applier().teardownNetwork(n)
}

func networkView(n *store.Network, endpoints []string) api.Network {
	v := api.Network{
		Name: n.Name, ID: n.ID, Subnet: n.Subnet.String(), Gateway: n.Gateway.String(), Bridge: n.Bridge,
		MTU: n.MTU, ICC: n.ICC, Internal: n.Internal, Masquerade: n.Masquerades(), Default: n.Default,
		Endpoints: endpoints, Created: n.Created, DockerID: n.DockerID, Driver: n.DriverName(), Parent: n.Parent,
		Mode: n.Mode,
	}
	for name, a := range n.AuxAddresses {
		if v.AuxAddresses == nil {
			v.AuxAddresses = map[string]string{}
		}
		v.AuxAddresses[name] = a.String()
	}
	if n.IPRange.IsValid() {
		v.IPRange = n.IPRange.String()
	}
	if v.Endpoints == nil {
		v.Endpoints = []string{}
	}
	return v
}
