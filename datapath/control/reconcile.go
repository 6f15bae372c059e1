package control

import (
	"errors"
	"net/netip"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Reconcile makes the kernel match the store at start-up: what the store
// holds is (re)created, what carries ebpfnet's name but the store does not
// know is removed, and a removal a crash interrupted is finished.
func (c *Control) Reconcile() error {
	c.mu.Lock()
	defer c.unlock()
	return reconciler{c}.run()
}

// reconciler is the orchestrator at start-up.
type reconciler struct{ *Control }

func (c reconciler) run() error {
	nets, eps, err := c.store.NetworksAndEndpoints()
	if err != nil {
		return err
	}
	byName := map[string]*store.Network{}
	for i := range nets {
		n := &nets[i]
		byName[n.Name] = n
		if err := c.applier().ensureNetwork(n); err != nil {
			c.log.Error("restore network", logf.Net(n.Name), logf.Err(err))
		}
	}
	live := eps[:0]
	for i := range eps {
		if c.restoreEndpoint(&eps[i], byName) {
			live = append(live, eps[i])
		}
	}
	live = c.dropOrphans(live)
	return errors.Join(c.sweep(nets, live), c.restorePorts(live))
}

// errHandoffGone: a handoff endpoint's host side went, with the sandbox
// its far end was in, while the daemon was away.
var errHandoffGone = errors.New("its sandbox went, with its interface")

// restoreEndpoint brings one stored endpoint back, or finishes removing it;
// it reports whether the endpoint is still wanted.
func (c reconciler) restoreEndpoint(ep *store.Endpoint, nets map[string]*store.Network) bool {
	switch ep.State {
	case store.StateRemoving:
		c.log.Info("finishing interrupted removal", logf.Ep(ep.Name))
		c.dropEndpoint(ep)
		return false
	case store.StateGone:
		return true // nothing of it is in the kernel until a namespace is attached
	}
	err := errHandoffGone
	if !ep.Handoff || c.planner().handoffAlive(ep) {
		err = c.applier().ensureEndpoint(ep, nets)
	}
	if err == nil {
		return true
	}
	if !ep.OwnNetns && !c.planner().netnsAlive(ep) {
		if ep.OnGone == store.OnGoneRemove {
			c.log.Warn("adopted netns is gone; removing its endpoint (on-gone remove)", logf.Ep(ep.Name),
				logf.Str("netns", ep.Netns))
			c.dropEndpoint(ep)
			return false
		}
		c.log.Warn("adopted netns is gone; the endpoint is gone until a namespace is attached", logf.Ep(ep.Name),
			logf.Str("netns", ep.Netns))
		if err := follower(c).markGone(ep); err != nil {
			c.log.Error("mark endpoint gone", logf.Ep(ep.Name), logf.Err(err))
		}
		ep.State = store.StateGone
		return true
	}
	c.log.Error("restore endpoint", logf.Ep(ep.Name), logf.Err(err))
	return true
}

// dropOrphans removes the container:NAME endpoints whose owner the store
// no longer holds (a crash between removing the two), and returns the
// others.
func (c reconciler) dropOrphans(eps []store.Endpoint) []store.Endpoint {
	names := map[string]bool{}
	for _, e := range eps {
		names[e.Name] = true
	}
	out := eps[:0]
	for i := range eps {
		if eps[i].Mode == store.ModeContainer && !names[eps[i].Shares] {
			c.log.Info("removing an endpoint whose namespace's owner is gone", logf.Ep(eps[i].Name),
				logf.Str("owner", eps[i].Shares))
			c.dropEndpoint(&eps[i])
			continue
		}
		out = append(out, eps[i])
	}
	return out
}

func (c reconciler) dropEndpoint(ep *store.Endpoint) {
	if err := c.applier().teardownEndpoint(ep); err != nil {
		c.log.Error("remove endpoint", logf.Ep(ep.Name), logf.Err(err))
		return
	}
	if err := c.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint(ep.Name) }); err != nil {
		c.log.Error("remove endpoint from store", logf.Ep(ep.Name), logf.Err(err))
	}
}

// Desired is what the kernel should hold, by the names the sweep checks.
type Desired struct {
	Links    map[string]bool // device names
	Addrs    map[netip.Addr]bool
	Ifindex  map[int]bool
	Networks map[uint32]netip.Prefix
}

func (c reconciler) want(nets []store.Network, eps []store.Endpoint) Desired {
	d := Desired{Links: map[string]bool{}, Addrs: map[netip.Addr]bool{}, Ifindex: map[int]bool{},
		Networks: map[uint32]netip.Prefix{}}
	for _, n := range nets {
		if !n.Bridged() {
			d.Links[n.Parent] = n.MadeParent
			continue
		}
		d.Links[n.Bridge] = true
		d.Networks[n.ID] = n.Subnet
		if idx := c.dev.LinkIndex(n.Bridge); idx > 0 {
			d.Ifindex[idx] = true
		}
	}
	for _, e := range eps {
		for _, i := range e.Interfaces {
			if !i.Veth() {
				continue
			}
			d.Links[i.HostName] = true
			d.Addrs[i.IP] = true
			if idx := c.dev.LinkIndex(i.HostName); idx > 0 {
				d.Ifindex[idx] = true
			}
		}
	}
	if up := c.cfg.Uplink; up != nil {
		d.Links[up.Name] = true
		d.Ifindex[up.Index] = true
	}
	if name := c.cfg.Defrag; name != "" {
		d.Links[name] = true
		if idx := c.dev.LinkIndex(name); idx > 0 {
			d.Ifindex[idx] = true
		}
	}
	return d
}

// sweep removes ebpfnet's kernel objects the store does not know: its
// devices, then map entries and link pins.
func (c reconciler) sweep(nets []store.Network, eps []store.Endpoint) error {
	d := c.want(nets, eps)
	links, err := c.dev.Links()
	errs := []error{err}
	for _, l := range links {
		if l.Owned() && !d.Links[l.Name] {
			c.log.Info("removing stale device", logf.If(l.Name), logf.Str("alias", l.Alias))
			errs = append(errs, c.dp.DetachAll(l.Name, l.Index), c.dev.DeleteOwned(l.Name, l.Alias))
		}
	}
	errs = append(errs, c.dp.Sweep(d))
	return errors.Join(errs...)
}

// restorePorts drops the stored publications of endpoints the store no
// longer holds, and has the datapath hold the others: those of ready
// endpoints published, those of gone ones in the map unreserved, those
// of endpoints with no interface (parked) not at all.
func (c reconciler) restorePorts(eps []store.Endpoint) error {
	targets, state := map[string]netip.Addr{}, map[string]string{}
	for i := range eps {
		targets[eps[i].Name], state[eps[i].Name] = ports.Target(&eps[i]), eps[i].State
	}
	var live, gone []store.Port
	err := c.store.Update(func(tx *store.Tx) error {
		all, err := tx.Ports()
		for _, p := range all {
			switch st, ok := state[p.Endpoint]; {
			case !ok:
				err = errors.Join(err, tx.DeletePort(&p))
			case !targets[p.Endpoint].IsValid():
			case st == store.StateGone:
				gone = append(gone, p)
			default:
				live = append(live, p)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return c.pub.Restore(live, gone, targets)
}
