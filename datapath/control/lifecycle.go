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

// An endpoint follows its namespace. The namespace's end shows as its
// host veths going: a veth dies with the namespace of its other end. The
// daemon watches device deletions (netdev.WatchLinks) and hands them to
// LinkGone; the namespace's processes are not watched, since a pod's
// namespace outlives any one of them.

// follower is the orchestrator following endpoints' namespaces.
type follower struct{ *Control }

// LinkGone handles a device of the node deleted. The datapath forgets its
// ifindex at once. If it was the host side of a ready endpoint whose
// namespace is gone, the endpoint is gone, or removed, as its OnGone
// says; if the namespace lives, someone deleted the veth, and it is made
// again. A Lost event makes it look at every endpoint.
func (c *Control) LinkGone(ev netdev.LinkEvent) {
	if c.lock() != nil {
		return
	}
	defer c.unlock()
	f := follower{c}
	if ev.Lost {
		f.checkAll()
		return
	}
	if ev.Index > 0 && c.dev.LinkName(ev.Index) == "" {
		if err := c.dp.ForgetIface(ev.Index); err != nil {
			c.log.Warn("forget a deleted device", logf.If(ev.Name), logf.Err(err))
		}
	}
	eps, err := f.endpoints()
	if err != nil {
		c.log.Error("look up a deleted device's endpoint", logf.If(ev.Name), logf.Err(err))
		return
	}
	for i := range eps {
		for _, ifc := range eps[i].Interfaces {
			if ifc.Veth() && ifc.HostName == ev.Name && eps[i].State == store.StateReady {
				f.check(&eps[i])
			}
		}
	}
}

// CheckEndpoints looks at every ready endpoint: after events were lost,
// and as the watch starts, to catch what went before it.
func (c *Control) CheckEndpoints() {
	if c.lock() != nil {
		return
	}
	defer c.unlock()
	follower{c}.checkAll()
}

func (c follower) checkAll() {
	eps, err := c.endpoints()
	if err != nil {
		c.log.Error("check endpoints", logf.Err(err))
		return
	}
	for i := range eps {
		if eps[i].State != store.StateReady {
			continue
		}
		for _, ifc := range eps[i].Interfaces {
			if ifc.Veth() && c.dev.LinkIndex(ifc.HostName) == 0 {
				c.check(&eps[i])
				break
			}
		}
	}
}

func (c follower) endpoints() (eps []store.Endpoint, err error) {
	err = c.store.View(func(tx *store.Tx) error {
		eps, err = tx.Endpoints()
		return err
	})
	return eps, err
}

// check makes a ready endpoint that lost a device whole again, or gone.
func (c follower) check(ep *store.Endpoint) {
	if c.planner().netnsAlive(ep) {
		c.log.Warn("an endpoint's device was deleted; making it again", logf.Ep(ep.Name))
		if err := c.repair(ep); err != nil {
			c.log.Error("repair endpoint", logf.Ep(ep.Name), logf.Err(err))
		}
		return
	}
	if ep.OnGone == store.OnGoneRemove {
		c.log.Info("endpoint's namespace went away; removing it (on-gone remove)", logf.Ep(ep.Name),
			logf.Str("netns", ep.Netns))
		if _, err := sharing(c).removeAll(ep.Name); err != nil {
			c.log.Error("remove endpoint", logf.Ep(ep.Name), logf.Err(err))
		}
		return
	}
	c.log.Warn("endpoint's namespace went away; it is gone until a namespace is attached", logf.Ep(ep.Name),
		logf.Str("netns", ep.Netns))
	if err := c.markGone(ep); err != nil {
		c.log.Error("mark endpoint gone", logf.Ep(ep.Name), logf.Err(err))
	}
}

func (c follower) repair(ep *store.Endpoint) error {
	var nets map[string]*store.Network
	err := c.store.View(func(tx *store.Tx) error {
		var err error
		nets, err = networksOf(tx, ep)
		return err
	})
	if err != nil {
		return err
	}
	return c.applier().ensureEndpoint(ep, nets)
}

// markGone records the endpoint gone and takes it out of the datapath:
// its interfaces, and its host ports (Publisher.Release); its addresses
// and publications stay its own.
func (c follower) markGone(ep *store.Endpoint) error {
	var pubs []store.Port
	err := c.store.Update(func(tx *store.Tx) error {
		cur, err := tx.Endpoint(ep.Name)
		if err != nil || cur == nil {
			return err
		}
		cur.State = store.StateGone
		if pubs, err = ports.Of(tx, ep.Name, ports.All); err != nil {
			return err
		}
		return tx.PutEndpoint(cur)
	})
	if err != nil {
		return err
	}
	errs := []error{c.pub.Release(pubs)}
	for i := range ep.Interfaces {
		errs = append(errs, c.applier().teardownIface(ep, &ep.Interfaces[i]))
	}
	return errors.Join(errs...)
}

// goneError is what a change to a gone endpoint gets.
// handoffError refuses to change an endpoint its runtime wires itself.
func handoffError(ep *store.Endpoint, what string) error {
	owner := "its runtime"
	if ep.DockerID != "" {
		owner = "Docker (docker network connect/disconnect)"
	}
	return errdefs.Conflict("endpoint %q is wired by %s; ebpfnet cannot %s it", ep.Name, owner, what)
}

func goneError(ep *store.Endpoint) error {
	return errdefs.Conflict("endpoint %q is gone: its namespace %s went away; attach a new one with "+
		"`ebpfnet endpoint attach %s --netns PATH`, or remove it", ep.Name, ep.Netns, ep.Name)
}

// Attach gives a gone endpoint a namespace again: the one named, or a new
// /run/netns/NAME. It gets its interfaces back with their addresses, and
// its publications.
func (c *Control) Attach(_ context.Context, name string, req api.Attach) (*api.Endpoint, error) {
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	var ep *store.Endpoint
	var nets map[string]*store.Network
	var pubs []store.Port
	err := c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, err = tx.Endpoint(name); err != nil || ep == nil {
			return errors.Join(err, errdefs.NotFound("endpoint %q not found", name))
		}
		if ep.Handoff {
			return handoffError(ep, "attach")
		}
		if !ep.Plain() {
			return errdefs.Conflict("endpoint %q is --network %s: it has no namespace of its own to attach", name, modeName(ep))
		}
		if ep.State != store.StateGone {
			return errdefs.Conflict("endpoint %q is %s, not gone: only a gone endpoint takes a new namespace", name, ep.State)
		}
		ep.Netns, ep.NetnsIno, ep.OwnNetns = "", 0, false
		if err := c.planner().netns(tx, ep, req.Netns); err != nil {
			return err
		}
		ep.State = store.StateReady
		if nets, err = networksOf(tx, ep); err != nil {
			return err
		}
		if pubs, err = ports.Of(tx, name, ports.All); err != nil {
			return err
		}
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return nil, err
	}
	if err := c.applier().ensureEndpoint(ep, nets); err != nil {
		c.log.Warn("attach failed, rolling back", logf.Ep(name), logf.Err(err))
		kernel := c.applier().teardownEndpoint(ep)
		stored := c.store.Update(func(tx *store.Tx) error {
			ep.State = store.StateGone
			return tx.PutEndpoint(ep)
		})
		c.leftBehind("endpoint "+name, kernel, stored, logf.Ep(name))
		return nil, fmt.Errorf("attach %s to %s: %w", name, ep.Netns, errors.Join(err, kernel))
	}
	if len(ep.Interfaces) > 0 {
		if err := c.pub.Reactivate(pubs, ports.Target(ep)); err != nil {
			return nil, fmt.Errorf("publish the ports of %s again: %w", name, err)
		}
	}
	c.log.Info("endpoint attached", logf.Ep(name), logf.Str("netns", ep.Netns))
	v := c.endpointView(ep)
	return &v, nil
}
