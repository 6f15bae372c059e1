package control

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Publish publishes ports of an endpoint: plan and reserve, store, then
// the datapath, undoing the store if the datapath refuses.
func (c *Control) Publish(_ context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	specs, err := ports.ParseSpecs(req.Specs)
	if err != nil {
		return nil, err
	}
	var target netip.Addr
	var taken []store.Port
	err = c.store.View(func(tx *store.Tx) error {
		var err error
		if target, err = publishTarget(tx, endpoint); err != nil {
			return err
		}
		taken, err = tx.Ports()
		return err
	})
	if err != nil {
		return nil, err
	}
	plan := ports.Plan
	if req.Unheld {
		plan = ports.PlanUnheld
	}
	pubs, err := plan(endpoint, specs, taken)
	if err != nil {
		return nil, err
	}
	if err := c.store.Update(func(tx *store.Tx) error { return ports.Put(tx, pubs) }); err != nil {
		ports.Release(pubs)
		return nil, err
	}
	if err := c.pub.Activate(pubs, target); err != nil {
		ports.Release(pubs)
		stored := c.store.Update(func(tx *store.Tx) error { return ports.Delete(tx, pubs) })
		c.leftBehind("publications of "+endpoint, nil, stored, logf.Ep(endpoint))
		return nil, err
	}
	return c.published(endpoint, pubs, target), nil
}

// published finishes publications the store and the datapath hold, and
// reports them as the API shows them.
func (c *Control) published(endpoint string, pubs []ports.Publication, target netip.Addr) []api.Port {
	c.pub.Published(endpoint, pubs, target)
	out := make([]api.Port, len(pubs))
	for i, p := range pubs {
		out[i] = portView(&p.Port, target)
	}
	return out
}

// publishTarget is the address an endpoint's publications lead to.
func publishTarget(tx *store.Tx, endpoint string) (netip.Addr, error) {
	ep, err := tx.Endpoint(endpoint)
	if err != nil {
		return netip.Addr{}, err
	}
	if ep == nil {
		return netip.Addr{}, errdefs.NotFound("endpoint %q not found", endpoint)
	}
	switch {
	case !ep.Plain():
		return netip.Addr{}, publishError(ep.Mode)
	case ep.State == store.StateGone:
		return netip.Addr{}, goneError(ep)
	case ep.State != store.StateReady:
		return netip.Addr{}, errdefs.Conflict("endpoint %q is being removed", endpoint)
	}
	if len(ep.Interfaces) == 0 {
		return netip.Addr{}, errdefs.Conflict("endpoint %q has no interface to publish to", endpoint)
	}
	n, err := tx.Network(ep.Interfaces[0].Network)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := ports.Allowed(endpoint, n); err != nil {
		return netip.Addr{}, err
	}
	return ports.Target(ep), nil
}

// Unpublish removes the publications of an endpoint the specs select.
func (c *Control) Unpublish(_ context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	specs, err := ports.ParseSpecs(req.Specs)
	if err != nil {
		return nil, err
	}
	out, err := c.unpublish(endpoint, func(p store.Port) bool {
		return slices.ContainsFunc(specs, func(sp portspec.Spec) bool {
			return sp.Matches(portspec.Mapping{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, CPort: p.CPort})
		})
	})
	if err == nil && len(out) == 0 {
		return nil, errdefs.NotFound("no publication of %q matches %s", endpoint, strings.Join(req.Specs, " "))
	}
	return out, err
}

// unpublish removes an endpoint's publications that match, from the store
// and then the datapath.
func (c *Control) unpublish(endpoint string, match func(store.Port) bool) ([]api.Port, error) {
	var gone []store.Port
	var target netip.Addr
	// Looked up first: a transaction that changes nothing would still
	// rewrite the store file.
	err := c.store.View(func(tx *store.Tx) error {
		ep, err := tx.Endpoint(endpoint)
		if err != nil || ep == nil {
			return errors.Join(err, errdefs.NotFound("endpoint %q not found", endpoint))
		}
		target = ports.Target(ep)
		gone, err = ports.Of(tx, endpoint, match)
		return err
	})
	if err != nil || len(gone) == 0 {
		return []api.Port{}, err
	}
	err = c.store.Update(func(tx *store.Tx) error {
		gone, err = ports.Drop(tx, endpoint, match)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]api.Port, len(gone))
	for i := range gone {
		out[i] = portView(&gone[i], target)
	}
	if err := c.pub.Withdraw(gone, target); err != nil {
		return nil, err
	}
	return out, nil
}

// Ports lists publications, of one endpoint or of all.
func (c *Control) Ports(_ context.Context, endpoint string) ([]api.Port, error) {
	out := []api.Port{}
	err := c.store.View(func(tx *store.Tx) error {
		if endpoint != "" {
			if ep, err := tx.Endpoint(endpoint); err != nil || ep == nil {
				return errors.Join(err, errdefs.NotFound("endpoint %q not found", endpoint))
			}
		}
		all, err := tx.Ports()
		if err != nil {
			return err
		}
		targets := map[string]netip.Addr{}
		for _, p := range all {
			if endpoint != "" && p.Endpoint != endpoint {
				continue
			}
			t, ok := targets[p.Endpoint]
			if !ok {
				if ep, err := tx.Endpoint(p.Endpoint); err == nil && ep != nil {
					t = ports.Target(ep)
				}
				targets[p.Endpoint] = t
			}
			out = append(out, portView(&p, t))
		}
		return nil
	})
	slices.SortFunc(out, portOrder)
	return out, err
}

// portView is a publication as the API shows it; one parked (its endpoint
// has no interface) leads nowhere: no target.
func portView(p *store.Port, target netip.Addr) api.Port {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	v := api.Port{Endpoint: p.Endpoint, Proto: p.Proto, HostIP: ip, HostPort: p.HostPort, ContainerPort: p.CPort}
	if target.IsValid() {
		v.Target = netip.AddrPortFrom(target, p.CPort).String()
	}
	return v
}
