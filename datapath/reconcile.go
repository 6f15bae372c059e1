package datapath

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
)

// reconcile makes the kernel match the store at start-up: what the store
// holds is (re)created, what carries ebpfnet's name but the store does not
// know is removed, and a removal a crash interrupted is finished.
func (m *Manager) reconcile() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	nets, eps, err := m.networksAndEndpoints()
	if err != nil {
		return err
	}
	byName := map[string]*store.Network{}
	for i := range nets {
		n := &nets[i]
		byName[n.Name] = n
		if err := m.ensureNetwork(n); err != nil {
			m.log.Error("restore network", zapNet(n.Name), zapErr(err))
		}
	}
	live := eps[:0]
	for i := range eps {
		if m.restoreEndpoint(&eps[i], byName) {
			live = append(live, eps[i])
		}
	}
	return errors.Join(m.sweep(nets, live), m.restorePorts(live))
}

// uplinkName is the uplink's device name, or "" without one.
func (m *Manager) uplinkName() string {
	if m.uplink == nil {
		return ""
	}
	return m.uplink.Attrs().Name
}

// restoreEndpoint brings one stored endpoint back, or finishes removing it;
// it reports whether the endpoint is still wanted.
func (m *Manager) restoreEndpoint(ep *store.Endpoint, nets map[string]*store.Network) bool {
	if ep.State == store.StateRemoving {
		m.log.Info("finishing interrupted removal", zapEp(ep.Name))
		m.dropEndpoint(ep)
		return false
	}
	err := m.ensureEndpoint(ep, nets)
	if err == nil {
		return true
	}
	if !ep.OwnNetns && !sameNetns(ep.Netns, ep.NetnsIno) {
		m.log.Warn("adopted netns is gone; removing its endpoint", zapEp(ep.Name), zapStr("netns", ep.Netns))
		m.dropEndpoint(ep)
		return false
	}
	m.log.Error("restore endpoint", zapEp(ep.Name), zapErr(err))
	return true
}

func (m *Manager) dropEndpoint(ep *store.Endpoint) {
	if err := m.teardownEndpoint(ep); err != nil {
		m.log.Error("remove endpoint", zapEp(ep.Name), zapErr(err))
		return
	}
	if err := m.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint(ep.Name) }); err != nil {
		m.log.Error("remove endpoint from store", zapEp(ep.Name), zapErr(err))
	}
}

// desired is what the kernel should hold, by the names the sweep checks.
type desired struct {
	links    map[string]bool
	addrs    map[netip.Addr]bool
	ifindex  map[int]bool
	networks map[uint32]netip.Prefix
}

func want(nets []store.Network, eps []store.Endpoint) desired {
	d := desired{links: map[string]bool{}, addrs: map[netip.Addr]bool{}, ifindex: map[int]bool{}, networks: map[uint32]netip.Prefix{}}
	for _, n := range nets {
		d.links[n.Bridge] = true
		d.networks[n.ID] = n.Subnet
	}
	for _, e := range eps {
		for _, i := range e.Interfaces {
			d.links[i.HostName] = true
			d.addrs[i.IP] = true
			if l, err := netlink.LinkByName(i.HostName); err == nil {
				d.ifindex[l.Attrs().Index] = true
			}
		}
	}
	return d
}

// sweep removes ebpfnet's kernel objects the store does not know.
func (m *Manager) sweep(nets []store.Network, eps []store.Endpoint) error {
	d := want(nets, eps)
	if m.uplink != nil {
		d.links[m.uplink.Attrs().Name] = true
		d.ifindex[m.uplink.Attrs().Index] = true
	}
	var errs []error
	links, err := netlink.LinkList()
	errs = append(errs, err)
	for _, l := range links {
		a := l.Attrs()
		if strings.HasPrefix(a.Alias, aliasPrefix) && !d.links[a.Name] {
			m.log.Info("removing stale device", zapIf(a.Name), zapStr("alias", a.Alias))
			errs = append(errs, m.dp.DetachAll(a.Name, a.Index), deleteOwnedLink(a.Name, a.Alias))
		}
	}
	errs = append(errs, m.sweepMaps(d), m.sweepPins(d))
	return errors.Join(errs...)
}

func (m *Manager) sweepMaps(d desired) error {
	var errs []error
	eps, err := m.maps.Endpoints.All()
	errs = append(errs, err)
	for _, e := range eps {
		if !d.addrs[e.IP] {
			errs = append(errs, m.maps.Endpoints.Delete(e.IP))
		}
	}
	ifs, err := m.maps.Ifaces.All()
	errs = append(errs, err)
	for _, i := range ifs {
		if !d.ifindex[i.Ifindex] {
			errs = append(errs, m.maps.Ifaces.Delete(i.Ifindex))
		}
	}
	nets, err := m.maps.Networks.All()
	errs = append(errs, err)
	for _, n := range nets {
		if _, ok := d.networks[n.ID]; !ok {
			errs = append(errs, m.maps.Networks.Delete(n.ID, n.Subnet))
		}
	}
	subnets, err := m.maps.Networks.SubnetEntries()
	errs = append(errs, err)
	for p, id := range subnets {
		if d.networks[id] != p {
			errs = append(errs, m.maps.Networks.DeleteSubnet(p))
		}
	}
	counters, err := m.maps.Stats.All()
	errs = append(errs, err)
	for _, c := range counters {
		if !d.ifindex[c.Ifindex] {
			errs = append(errs, m.maps.Stats.DeleteIfindex(c.Ifindex))
		}
	}
	return errors.Join(errs...)
}

// sweepPins unpins tcx links of devices the store does not know.
func (m *Manager) sweepPins(d desired) error {
	dir := filepath.Join(m.cfg.BPFFS, loader.LinkDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, h := range loader.SockHooks {
		keep[h.Name] = true
	}
	var errs []error
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		ifname, hook, ok := cutHook(e.Name())
		switch {
		case !ok:
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		case !d.links[ifname]:
			errs = append(errs, m.dp.Detach(ifname, 0, hook))
		}
	}
	return errors.Join(errs...)
}

// cutHook splits a link pin's name into interface and hook.
func cutHook(pin string) (string, loader.Hook, bool) {
	for _, h := range loader.Hooks {
		if ifname, ok := strings.CutSuffix(pin, "_"+string(h)); ok {
			return ifname, h, true
		}
	}
	return "", "", false
}
