package datapath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// CreateEndpoint creates an endpoint with one interface and the ports it
// publishes: store first, endpoint and publications in one transaction,
// then the kernel, undoing both if the kernel refuses. A crash in between
// leaves the start-up to finish the kernel's part: the endpoint comes back
// whole, its publications with it.
func (m *Manager) CreateEndpoint(ctx context.Context, req api.EndpointCreate) (*api.Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var specs []portspec.Spec
	if len(req.Publish) > 0 {
		var err error
		if specs, err = parseSpecs(req.Publish); err != nil {
			return nil, err
		}
	}
	var ep *store.Endpoint
	var n *store.Network
	var pubs []publication
	err := m.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, n, err = m.planEndpoint(tx, req); err != nil {
			return err
		}
		if pubs, err = planPublish(tx, ep, n, specs); err != nil {
			return err
		}
		return errors.Join(tx.PutEndpoint(ep), tx.PutNetwork(n), putPorts(tx, pubs))
	})
	if err != nil {
		release(pubs)
		return nil, err
	}
	if err := m.ensureEndpoint(ep, map[string]*store.Network{n.Name: n}); err != nil {
		m.log.Warn("endpoint create failed, rolling back", zapEp(ep.Name), zapErr(err))
		release(pubs)
		err = errors.Join(err, m.teardownEndpoint(ep))
		_ = m.store.Update(func(tx *store.Tx) error { return errors.Join(tx.DeleteEndpoint(ep.Name), deletePorts(tx, pubs)) })
		return nil, fmt.Errorf("create endpoint %s: %w", ep.Name, err)
	}
	m.log.Info("endpoint created", zapEp(ep.Name), zapNet(n.Name), zapStr("ip", ep.Interfaces[0].IP.String()))
	if err := m.activatePorts(pubs, ep.Interfaces[0].IP); err != nil {
		release(pubs)
		return nil, errors.Join(err, m.removeEndpoint(ep.Name))
	}
	v := endpointView(ep)
	if len(pubs) > 0 {
		// An adopted namespace's processes may have sent already.
		v.Ports = m.published(ep.Name, pubs, ep.Interfaces[0].IP)
	}
	return &v, nil
}

func (m *Manager) planEndpoint(tx *store.Tx, req api.EndpointCreate) (*store.Endpoint, *store.Network, error) {
	if err := checkName("endpoint", req.Name); err != nil {
		return nil, nil, err
	}
	if old, err := tx.Endpoint(req.Name); err != nil || old != nil {
		return nil, nil, errors.Join(err, errdefs.Conflict("endpoint %q already exists", req.Name))
	}
	n, err := networkOrDefault(tx, req.Network)
	if err != nil {
		return nil, nil, err
	}
	ep := &store.Endpoint{Name: req.Name, State: store.StateReady, Created: time.Now().UTC()}
	if err := planNetns(tx, ep, req.Netns, m.netnsIno); err != nil {
		return nil, nil, err
	}
	ifc, err := planIface(tx, n, req.IP, "eth0")
	if err != nil {
		return nil, nil, err
	}
	ep.Interfaces = []store.Interface{*ifc}
	return ep, n, nil
}

func networkOrDefault(tx *store.Tx, name string) (*store.Network, error) {
	if name != "" {
		n, err := tx.Network(name)
		if err == nil && n == nil {
			err = errdefs.NotFound("network %q not found", name)
		}
		return n, err
	}
	nets, err := tx.Networks()
	if err != nil {
		return nil, err
	}
	for i := range nets {
		if nets[i].Default {
			return &nets[i], nil
		}
	}
	return nil, errdefs.NotFound("there is no default network; pass --network")
}

// planNetns decides the endpoint's namespace: /run/netns/<name>, created
// with the endpoint, or an existing one the caller names, which must not be
// own, the daemon's.
func planNetns(tx *store.Tx, ep *store.Endpoint, path string, own uint64) error {
	if path == "" {
		ep.Netns, ep.OwnNetns = filepath.Join(netnsDir, ep.Name), true
		if _, err := netnsIno(ep.Netns); err == nil {
			return errdefs.Conflict("%s already exists; adopt it with --netns %s", ep.Netns, ep.Netns)
		}
		return nil
	}
	if !filepath.IsAbs(path) {
		return errdefs.Invalid("netns path %q is not absolute", path)
	}
	ino, err := netnsIno(path)
	if err != nil {
		return errdefs.Invalid("netns %s: %v", path, err)
	}
	if ino == own {
		return errdefs.Invalid("netns %s is the daemon's own network namespace", path)
	}
	eps, err := tx.Endpoints()
	if err != nil {
		return err
	}
	for _, e := range eps {
		if e.NetnsIno == ino || (e.OwnNetns && sameNetns(e.Netns, ino)) {
			return errdefs.Conflict("netns %s is already endpoint %q", path, e.Name)
		}
	}
	ep.Netns, ep.NetnsIno = path, ino
	return nil
}

func sameNetns(path string, ino uint64) bool {
	i, err := netnsIno(path)
	return err == nil && i == ino
}

// planIface picks the address, names and MAC of a new interface, and
// advances the network's allocation cursor.
func planIface(tx *store.Tx, n *store.Network, reqIP, name string) (*store.Interface, error) {
	eps, err := tx.Endpoints()
	if err != nil {
		return nil, err
	}
	used := usedAddrs(eps, n.Name)
	if len(used) >= maxBridgePorts {
		return nil, errdefs.Limit("network %q has %d endpoints: its bridge %s is full, a Linux bridge takes "+
			"at most %d ports; put further endpoints on another network", n.Name, len(used), n.Bridge, maxBridgePorts)
	}
	isUsed := func(a netip.Addr) bool { return used[a] }
	pool := ipam.Pool{Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway}
	var ip netip.Addr
	if reqIP != "" {
		if ip, err = netip.ParseAddr(reqIP); err != nil {
			return nil, errdefs.Invalid("ip %q is not an IPv4 address", reqIP)
		}
		if err := pool.CheckStatic(ip, isUsed); err != nil {
			if used[ip] {
				return nil, errdefs.Conflict("%v", err)
			}
			return nil, errdefs.Invalid("%v", err)
		}
	} else {
		ip, err = pool.Next(n.LastIP, isUsed)
		if errors.Is(err, ipam.ErrFull) {
			taken, _ := pool.Use(used)
			return nil, errdefs.Limit("network %q has no free address left: its %d endpoint addresses of %s are "+
				"all taken; remove an endpoint or create a network with a bigger subnet", n.Name, taken, poolName(n))
		}
		if err != nil {
			return nil, err
		}
		n.LastIP = ip
	}
	host := vethPrefix + randomHex(8)
	for linkExists(host) {
		host = vethPrefix + randomHex(8)
	}
	return &store.Interface{Network: n.Name, Name: name, HostName: host, IP: ip, MAC: endpointMAC(ip).String()}, nil
}

// poolName is where a network's addresses come from.
func poolName(n *store.Network) string {
	if n.IPRange.IsValid() {
		return n.IPRange.String()
	}
	return n.Subnet.String()
}

// ensureEndpoint makes the kernel hold an endpoint: its namespace (created
// again if it was ours and is gone) and every interface.
func (m *Manager) ensureEndpoint(ep *store.Endpoint, nets map[string]*store.Network) error {
	if ep.OwnNetns {
		if _, err := netnsIno(ep.Netns); err != nil {
			// The veths' far ends went with the namespace; host sides
			// still here are on their way out with it, so they must not
			// be taken for the pair the new namespace needs.
			for i := range ep.Interfaces {
				if err := m.teardownIface(ep, &ep.Interfaces[i]); err != nil {
					return err
				}
			}
			if err := createNamedNetns(ep.Netns); err != nil {
				return err
			}
		}
	} else if ino, err := netnsIno(ep.Netns); err != nil || ino != ep.NetnsIno {
		return fmt.Errorf("netns %s of endpoint %s is gone", ep.Netns, ep.Name)
	}
	ns, err := openNetns(ep.Netns)
	if err != nil {
		return err
	}
	defer ns.Close()
	for i := range ep.Interfaces {
		ifc := &ep.Interfaces[i]
		n, ok := nets[ifc.Network]
		if !ok {
			return fmt.Errorf("endpoint %s: network %s is not in the store", ep.Name, ifc.Network)
		}
		if err := m.ensureIface(ep, ifc, n, ns); err != nil {
			return err
		}
	}
	return nil
}

// teardownEndpoint removes every interface and, if ebpfnet created it, the
// namespace.
func (m *Manager) teardownEndpoint(ep *store.Endpoint) error {
	var errs []error
	for i := range ep.Interfaces {
		errs = append(errs, m.teardownIface(ep, &ep.Interfaces[i]))
	}
	if ep.OwnNetns {
		errs = append(errs, deleteNamedNetns(ep.Netns))
	}
	return errors.Join(errs...)
}

// RemoveEndpoint removes an endpoint. The removal is recorded first, so a
// crash half way is finished by the next start.
func (m *Manager) RemoveEndpoint(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.removeEndpoint(name)
}

// removeEndpoint records the removal and drops the endpoint's
// publications in one transaction, so a crash half way neither leaves an
// endpoint without its publications nor publications without it.
func (m *Manager) removeEndpoint(name string) error {
	var ep *store.Endpoint
	var gone []store.Port
	err := m.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, err = tx.Endpoint(name); err != nil {
			return err
		}
		if ep == nil {
			return errdefs.NotFound("endpoint %q not found", name)
		}
		if gone, err = dropPorts(tx, name, func(store.Port) bool { return true }); err != nil {
			return err
		}
		ep.State = store.StateRemoving
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return err
	}
	if _, err := m.withdrawPorts(gone, publishedTo(ep)); err != nil {
		return fmt.Errorf("remove endpoint %s: %w", name, err)
	}
	if err := m.teardownEndpoint(ep); err != nil {
		return fmt.Errorf("remove endpoint %s: %w", name, err)
	}
	m.log.Info("endpoint removed", zapEp(name))
	return m.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint(name) })
}

// Endpoints lists endpoints.
func (m *Manager) Endpoints(ctx context.Context) ([]api.Endpoint, error) {
	out := []api.Endpoint{}
	err := m.store.View(func(tx *store.Tx) error {
		eps, err := tx.Endpoints()
		for i := range eps {
			out = append(out, endpointView(&eps[i]))
		}
		return err
	})
	return out, err
}

// Endpoint inspects one endpoint.
func (m *Manager) Endpoint(ctx context.Context, name string) (*api.Endpoint, error) {
	var out *api.Endpoint
	err := m.store.View(func(tx *store.Tx) error {
		ep, err := tx.Endpoint(name)
		if err != nil {
			return err
		}
		if ep == nil {
			return errdefs.NotFound("endpoint %q not found", name)
		}
		v := endpointView(ep)
		out = &v
		return nil
	})
	return out, err
}
