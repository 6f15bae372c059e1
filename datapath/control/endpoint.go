package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// CreateEndpoint creates an endpoint with an interface on each network
// asked for and the ports it publishes: store first, endpoint and
// publications in one transaction, then the kernel, undoing both if the
// kernel refuses. A crash in between
// leaves the start-up to finish the kernel's part: the endpoint comes back
// whole, its publications with it.
func (c *Control) CreateEndpoint(_ context.Context, req api.EndpointCreate) (*api.Endpoint, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	var specs []portspec.Spec
	if len(req.Publish) > 0 {
		var err error
		if specs, err = ports.ParseSpecs(req.Publish); err != nil {
			return nil, err
		}
	}
	first, rest, err := firstNetwork(req)
	if err != nil {
		return nil, err
	}
	var ep *store.Endpoint
	var n *store.Network
	var more []*store.Network
	var pubs []ports.Publication
	err = c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, n, err = c.planner().endpoint(tx, first); err != nil {
			return err
		}
		if more, err = c.planner().moreIfaces(tx, ep, rest); err != nil {
			return err
		}
		if pubs, err = planPublish(tx, ep.Name, n, specs, req.PublishUnheld); err != nil {
			return err
		}
		return errors.Join(tx.PutEndpoint(ep), putNetworks(tx, n, more), ports.Put(tx, pubs))
	})
	if err != nil {
		ports.Release(pubs)
		return nil, err
	}
	if err := c.applier().ensureEndpoint(ep, byName(n, more)); err != nil {
		c.log.Warn("endpoint create failed, rolling back", logf.Ep(ep.Name), logf.Err(err))
		ports.Release(pubs)
		kernel := c.applier().teardownEndpoint(ep)
		stored := c.store.Update(func(tx *store.Tx) error {
			return errors.Join(tx.DeleteEndpoint(ep.Name), ports.Delete(tx, pubs))
		})
		c.leftBehind("endpoint "+ep.Name, kernel, stored, logf.Ep(ep.Name))
		return nil, fmt.Errorf("create endpoint %s: %w", ep.Name, errors.Join(err, kernel))
	}
	c.log.Info("endpoint created", logf.Ep(ep.Name), logf.Net(n.Name), logf.Str("ip", ep.Interfaces[0].IP.String()))
	target := ports.Target(ep)
	if err := c.pub.Activate(pubs, target); err != nil {
		ports.Release(pubs)
		return nil, errors.Join(err, c.removeEndpoint(ep.Name))
	}
	v := withPorts(c.endpointView(ep), ep, nil)
	if len(pubs) > 0 {
		// An adopted namespace's processes may have sent already.
		v.Ports = c.published(ep.Name, pubs, target)
	}
	return &v, nil
}

// planPublish reserves the host ports a new endpoint on n publishes.
func planPublish(tx *store.Tx, endpoint string, n *store.Network, specs []portspec.Spec, unheld bool) ([]ports.Publication, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if err := ports.Allowed(endpoint, n); err != nil {
		return nil, err
	}
	taken, err := tx.Ports()
	if err != nil {
		return nil, err
	}
	if unheld {
		return ports.PlanUnheld(endpoint, specs, taken)
	}
	return ports.Plan(endpoint, specs, taken)
}

// RemoveEndpoint removes an endpoint. The removal is recorded first, so a
// crash half way is finished by the next start.
func (c *Control) RemoveEndpoint(_ context.Context, name string) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer c.unlock()
	return c.removeEndpoint(name)
}

// removeEndpoint records the removal and drops the endpoint's
// publications in one transaction, so a crash half way neither leaves an
// endpoint without its publications nor publications without it.
func (c *Control) removeEndpoint(name string) error {
	var ep *store.Endpoint
	var gone []store.Port
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, err = tx.Endpoint(name); err != nil {
			return err
		}
		if ep == nil {
			return errdefs.NotFound("endpoint %q not found", name)
		}
		if gone, err = ports.Drop(tx, name, ports.All); err != nil {
			return err
		}
		ep.State = store.StateRemoving
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return err
	}
	if err := c.pub.Withdraw(gone, ports.Target(ep)); err != nil {
		return fmt.Errorf("remove endpoint %s: %w", name, err)
	}
	if err := c.applier().teardownEndpoint(ep); err != nil {
		return fmt.Errorf("remove endpoint %s: %w", name, err)
	}
	c.log.Info("endpoint removed", logf.Ep(name))
	return c.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint(name) })
}

// Endpoints lists endpoints.
func (c *Control) Endpoints(context.Context) ([]api.Endpoint, error) {
	out := []api.Endpoint{}
	err := c.store.View(func(tx *store.Tx) error {
		eps, err := tx.Endpoints()
		if err != nil {
			return err
		}
		pubs, err := publicationsByEndpoint(tx)
		for i := range eps {
			out = append(out, withPorts(c.endpointView(&eps[i]), &eps[i], pubs[eps[i].Name]))
		}
		return err
	})
	return out, err
}

// Endpoint inspects one endpoint.
func (c *Control) Endpoint(_ context.Context, name string) (*api.Endpoint, error) {
	var out *api.Endpoint
	err := c.store.View(func(tx *store.Tx) error {
		ep, err := tx.Endpoint(name)
		if err != nil {
			return err
		}
		if ep == nil {
			return errdefs.NotFound("endpoint %q not found", name)
		}
		pubs, err := ports.Of(tx, name, ports.All)
		v := withPorts(c.endpointView(ep), ep, pubs)
		out = &v
		return err
	})
	return out, err
}

func (c *Control) endpointView(e *store.Endpoint) api.Endpoint {
	v := api.Endpoint{Name: e.Name, ContainerID: e.ContainerID, Netns: e.Netns, OwnNetns: e.OwnNetns, State: e.State,
		OnGone: e.OnGone, Created: e.Created, Interfaces: []api.Interface{}, DockerID: e.DockerID, Handoff: e.Handoff}
	if v.OnGone == "" {
		v.OnGone = store.OnGoneKeep
	}
	for _, i := range e.Interfaces {
		v.Interfaces = append(v.Interfaces, api.Interface{
			Network: i.Network, Name: i.Name, IP: i.IP.String(), MAC: i.MAC,
			HostName: i.HostName, HostIfindex: c.dev.LinkIndex(i.HostName), Aliases: i.Aliases,
		})
	}
	v.DNS = api.DNSConf{Servers: e.DNS.Servers, Search: e.DNS.Search, Options: e.DNS.Options}
	return v
}
