package datapath

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// optionKeys maps `--opt` keys, ours and Docker's, to the setting.
var optionKeys = map[string]string{
	"icc":                                  "icc",
	"masquerade":                           "masquerade",
	"mtu":                                  "mtu",
	"bridge":                               "bridge",
	"com.docker.network.bridge.enable_icc": "icc",
	"com.docker.network.bridge.enable_ip_masquerade": "masquerade",
	"com.docker.network.driver.mtu":                  "mtu",
	"com.docker.network.bridge.name":                 "bridge",
}

// applyOptions folds --opt key=value pairs into the request.
func applyOptions(req *api.NetworkCreate, n *store.Network) error {
	for k, v := range req.Options {
		key, ok := optionKeys[k]
		if !ok {
			return errdefs.Invalid("unknown network option %q (known: icc, masquerade, mtu, bridge)", k)
		}
		switch key {
		case "icc", "masquerade":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errdefs.Invalid("option %s=%q: want true or false", k, v)
			}
			if key == "icc" {
				n.ICC = b
			} else {
				n.Masquerade = b
			}
		case "mtu":
			mtu, err := strconv.Atoi(v)
			if err != nil {
				return errdefs.Invalid("option %s=%q: want a number", k, v)
			}
			req.MTU = mtu
		case "bridge":
			req.Bridge = v
		}
	}
	return nil
}

// maxCIDRLen is the longest IPv4 CIDR: anything longer is refused before
// it is parsed, and not echoed whole in the error.
const maxCIDRLen = len("255.255.255.255/32")

func parsePrefix(what, s string) (netip.Prefix, error) {
	if len(s) > maxCIDRLen {
		return netip.Prefix{}, errdefs.Invalid("%s %.24q... is not an IPv4 CIDR such as 10.1.0.0/24", what, s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, errdefs.Invalid("%s %q is not an IPv4 CIDR such as 10.1.0.0/24", what, s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, errdefs.Invalid("%s %s has host bits set: did you mean %s?", what, s, p.Masked())
	}
	return p, nil
}

// planNetwork validates a request and fills in every default, without
// changing anything.
func (m *Manager) planNetwork(req api.NetworkCreate, existing []store.Network) (*store.Network, error) {
	if err := checkName("network", req.Name); err != nil {
		return nil, err
	}
	n := &store.Network{Name: req.Name, ICC: true, Masquerade: true, Internal: req.Internal, Created: time.Now().UTC()}
	if err := applyOptions(&req, n); err != nil {
		return nil, err
	}
	for _, e := range existing {
		if e.Name == req.Name {
			return nil, errdefs.Conflict("network %q already exists", req.Name)
		}
	}
	if err := m.planSubnet(req, n, existing); err != nil {
		return nil, err
	}
	if err := planAddresses(req, n); err != nil {
		return nil, err
	}
	if err := m.planDevice(req, n, existing); err != nil {
		return nil, err
	}
	n.ID = freeNetworkID(existing)
	return n, nil
}

func (m *Manager) planSubnet(req api.NetworkCreate, n *store.Network, existing []store.Network) error {
	if req.Subnet == "" {
		if req.Gateway != "" || req.IPRange != "" {
			return errdefs.Invalid("--gateway and --ip-range need --subnet")
		}
		p, err := m.freeSubnet(existing)
		if err != nil {
			return err
		}
		n.Subnet = p
		return nil
	}
	p, err := parsePrefix("subnet", req.Subnet)
	if err != nil {
		return err
	}
	if p.Bits() > 30 {
		return errdefs.Invalid("subnet %s is too small: a network needs at least a /30", p)
	}
	for _, e := range existing {
		if e.Subnet.Overlaps(p) {
			return errdefs.Conflict("subnet %s overlaps network %q (%s)", p, e.Name, e.Subnet)
		}
	}
	n.Subnet = p
	return nil
}

func planAddresses(req api.NetworkCreate, n *store.Network) error {
	n.Gateway = n.Subnet.Addr().Next()
	if req.Gateway != "" {
		gw, err := netip.ParseAddr(req.Gateway)
		if err != nil || !gw.Is4() {
			return errdefs.Invalid("gateway %q is not an IPv4 address", req.Gateway)
		}
		if !n.Subnet.Contains(gw) {
			return errdefs.Invalid("gateway %s is outside the subnet %s", gw, n.Subnet)
		}
		if gw == n.Subnet.Addr() || gw == ipam.LastAddr(n.Subnet) {
			return errdefs.Invalid("gateway %s is the network or broadcast address of %s", gw, n.Subnet)
		}
		n.Gateway = gw
	}
	if req.IPRange != "" {
		r, err := parsePrefix("ip-range", req.IPRange)
		if err != nil {
			return err
		}
		if r.Bits() < n.Subnet.Bits() || !n.Subnet.Contains(r.Addr()) {
			return errdefs.Invalid("ip-range %s is outside the subnet %s", r, n.Subnet)
		}
		n.IPRange = r
	}
	return nil
}

func (m *Manager) planDevice(req api.NetworkCreate, n *store.Network, existing []store.Network) error {
	n.MTU = m.defaultMTU()
	if req.MTU != 0 {
		if req.MTU < 68 || req.MTU > 65535 {
			return errdefs.Invalid("mtu %d is out of range (68-65535)", req.MTU)
		}
		n.MTU = req.MTU
	}
	n.Bridge = req.Bridge
	if n.Bridge == "" {
		n.Bridge = bridgePrefix + randomHex(10)
	}
	if err := checkIfname(n.Bridge); err != nil {
		return err
	}
	for _, e := range existing {
		if e.Bridge == n.Bridge {
			return errdefs.Conflict("bridge %s is used by network %q", n.Bridge, e.Name)
		}
	}
	if linkExists(n.Bridge) {
		return errdefs.Conflict("a device named %s already exists", n.Bridge)
	}
	return nil
}

func freeNetworkID(existing []store.Network) uint32 {
	used := map[uint32]bool{}
	for _, e := range existing {
		used[e.ID] = true
	}
	id := uint32(1)
	for used[id] {
		id++
	}
	return id
}

// CreateNetwork creates a network: store first, then the kernel, undoing
// both if the kernel refuses.
func (m *Manager) CreateNetwork(ctx context.Context, req api.NetworkCreate) (*api.Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.createNetwork(req, false)
}

func (m *Manager) createNetwork(req api.NetworkCreate, isDefault bool) (*api.Network, error) {
	var n *store.Network
	err := m.store.Update(func(tx *store.Tx) error {
		existing, err := tx.Networks()
		if err != nil {
			return err
		}
		if n, err = m.planNetwork(req, existing); err != nil {
			return err
		}
		n.Default = isDefault
		return tx.PutNetwork(n)
	})
	if err != nil {
		return nil, err
	}
	if err := m.ensureNetwork(n); err != nil {
		m.log.Warn("network create failed, rolling back", zapNet(n.Name), zapErr(err))
		err = errors.Join(err, m.teardownNetwork(n))
		_ = m.store.Update(func(tx *store.Tx) error { return tx.DeleteNetwork(n.Name) })
		return nil, fmt.Errorf("create network %s: %w", n.Name, err)
	}
	m.log.Info("network created", zapNet(n.Name), zapStr("subnet", n.Subnet.String()), zapStr("bridge", n.Bridge))
	v := networkView(n, nil)
	return &v, nil
}

// Networks lists networks.
func (m *Manager) Networks(ctx context.Context) ([]api.Network, error) {
	nets, eps, err := m.networksAndEndpoints()
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
func (m *Manager) Network(ctx context.Context, name string) (*api.Network, error) {
	var out *api.Network
	err := m.store.View(func(tx *store.Tx) error {
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
func (m *Manager) RemoveNetwork(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n *store.Network
	err := m.store.Update(func(tx *store.Tx) error {
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
	m.log.Info("network removed", zapNet(name))
	return m.teardownNetwork(n)
}
