package control

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	if err := checkModeNetworks(req.Networks); err != nil {
		return nil, err
	}
	first, rest, err := firstNetwork(req)
	if err != nil {
		return nil, err
	}
	if mode, shares := modeOf(first.Network); mode != "" {
		return sharing{c}.create(first, mode, shares)
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
// crash half way is finished by the next start. One whose namespace
// others share (container:NAME) is refused.
func (c *Control) RemoveEndpoint(_ context.Context, name string) error {
	if err := c.lock(); err != nil {
		return err
	}
	defer c.unlock()
	sharers, err := sharing{c}.sharers(name)
	if err != nil {
		return err
	}
	if len(sharers) > 0 {
		return errdefs.Conflict("endpoint %q shares its namespace with %s (container:%s): remove them first, or "+
			"force it (`endpoint rm -f %s`), which removes them with it", name, strings.Join(sharers, ", "), name, name)
	}
	return c.removeEndpoint(name)
}

// Remover removes endpoints by force: with those sharing their namespace.
type Remover struct{ c *Control }

// NewRemover is the forced removal of an orchestrator's endpoints.
func NewRemover(c *Control) Remover { return Remover{c} }

// ForceRemoveEndpoint removes an endpoint and every endpoint sharing its
// namespace, which lose it with their owner: they are removed first, and
// reported.
func (r Remover) ForceRemoveEndpoint(_ context.Context, name string) (*api.Removed, error) {
	if err := r.c.lock(); err != nil {
		return nil, err
	}
	defer r.c.unlock()
	gone, err := sharing{r.c}.removeAll(name)
	return &api.Removed{Sharers: gone}, err
}

// removeAll removes an endpoint's sharers, then the endpoint.
func (c sharing) removeAll(name string) ([]string, error) {
	sharers, err := c.sharers(name)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, s := range sharers {
		if err := c.removeEndpoint(s); err != nil {
			return gone, fmt.Errorf("remove %s, which shares %s's namespace: %w", s, name, err)
		}
		c.log.Info("endpoint removed with the endpoint whose namespace it shared", logf.Ep(s), logf.Str("owner", name))
		gone = append(gone, s)
	}
	return gone, c.removeEndpoint(name)
}

// sharers lists the endpoints sharing an endpoint's namespace.
func (c sharing) sharers(name string) ([]string, error) {
	var out []string
	err := c.store.View(func(tx *store.Tx) error {
		eps, err := tx.Endpoints()
		out = sharersOf(eps, name)
		return err
	})
	return out, err
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
			out = append(out, fullView(c.endpointView(&eps[i]), &eps[i], eps, pubs[eps[i].Name]))
		}
		shareViews(out, eps)
		return err
	})
	return out, err
}

// Endpoint inspects one endpoint.
func (c *Control) Endpoint(_ context.Context, name string) (*api.Endpoint, error) {
	var out *api.Endpoint
	err := c.store.View(func(tx *store.Tx) error {
		eps, err := tx.Endpoints()
		if err != nil {
			return err
		}
		ep := findEndpoint(eps, name)
		if ep == nil {
			return errdefs.NotFound("endpoint %q not found", name)
		}
		want := []*store.Endpoint{ep}
		if owner := findEndpoint(eps, ep.Shares); ep.Mode == store.ModeContainer && owner != nil {
			want = append(want, owner)
		}
		views := make([]api.Endpoint, 0, len(want))
		for _, e := range want {
			pubs, err := ports.Of(tx, e.Name, ports.All)
			if err != nil {
				return err
			}
			views = append(views, fullView(c.endpointView(e), e, eps, pubs))
		}
		shareViews(views, eps)
		out = &views[0]
		return nil
	})
	return out, err
}

func findEndpoint(eps []store.Endpoint, name string) *store.Endpoint {
	for i := range eps {
		if eps[i].Name == name {
			return &eps[i]
		}
	}
	return nil
}

// fullView is an endpoint's view v with its publications and sharers.
func fullView(v api.Endpoint, e *store.Endpoint, all []store.Endpoint, pubs []store.Port) api.Endpoint {
	v = withPorts(v, e, pubs)
	v.Sharers = sharersOf(all, e.Name)
	return v
}

// shareViews gives the container:NAME endpoints among views their
// owner's namespace, interfaces, ports and state, from the owner's view
// among views: one whose owner is not there is shown gone.
func shareViews(views []api.Endpoint, eps []store.Endpoint) {
	byName := map[string]*api.Endpoint{}
	for i := range views {
		byName[views[i].Name] = &views[i]
	}
	for i := range eps {
		e := &eps[i]
		v := byName[e.Name]
		if v == nil || e.Mode != store.ModeContainer {
			continue
		}
		*v = sharedView(*v, byName[e.Shares])
	}
}

func (c *Control) endpointView(e *store.Endpoint) api.Endpoint {
	v := api.Endpoint{Name: e.Name, ContainerID: e.ContainerID, Netns: e.Netns, OwnNetns: e.OwnNetns, State: e.State,
		OnGone: e.OnGone, Created: e.Created, Interfaces: []api.Interface{}, DockerID: e.DockerID, Handoff: e.Handoff,
		Mode: modeName(e)}
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
