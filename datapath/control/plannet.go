package control

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// planner decides what a request makes, without changing anything: it
// reads the kernel only to avoid names and subnets already in use.
type planner struct {
	dev Devices
	cfg Config
}

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

// network validates a request and fills in every default.
func (p planner) network(req api.NetworkCreate, existing []store.Network) (*store.Network, error) {
	if err := checkName("network", req.Name); err != nil {
		return nil, err
	}
	if req.Name == store.ModeNone || req.Name == store.ModeHost {
		return nil, errdefs.Conflict("network name %q is reserved: it is docker run's --network %s", req.Name, req.Name)
	}
	driver, err := checkDriver(req.Driver)
	if err != nil {
		return nil, err
	}
	n := &store.Network{Name: req.Name, ICC: true, Masquerade: driver == "", Internal: req.Internal,
		Created: time.Now().UTC(), DockerID: req.DockerID, Driver: driver}
	if n.Bridged() {
		err = applyOptions(&req, n)
	} else {
		err = subOptions(&req, n)
	}
	if err != nil {
		return nil, err
	}
	// As Docker's: an internal network has no way out to masquerade on,
	// whatever masquerade option it was given.
	n.Masquerade = n.Masquerades()
	for _, e := range existing {
		if e.Name == req.Name {
			return nil, errdefs.Conflict("network %q already exists", req.Name)
		}
	}
	if err := p.subnet(req, n, existing); err != nil {
		return nil, err
	}
	if err := planAddresses(req, n); err != nil {
		return nil, err
	}
	if err := planAux(req, n); err != nil {
		return nil, err
	}
	if n.Bridged() {
		err = p.device(req, n, existing)
	} else {
		err = p.parent(req, n, existing)
	}
	if err != nil {
		return nil, err
	}
	n.ID = freeNetworkID(existing)
	return n, nil
}

func (p planner) subnet(req api.NetworkCreate, n *store.Network, existing []store.Network) error {
	if req.Subnet == "" && !n.Bridged() {
		return errdefs.Invalid("a %s network needs --subnet: the LAN's, which its endpoints take addresses of", n.Driver)
	}
	if req.Subnet == "" {
		if req.Gateway != "" || req.IPRange != "" {
			return errdefs.Invalid("--gateway and --ip-range need --subnet")
		}
		s, err := p.freeSubnet(existing)
		if err != nil {
			return err
		}
		n.Subnet = s
		return nil
	}
	s, err := ParsePrefix("subnet", req.Subnet)
	if err != nil {
		return err
	}
	if s.Bits() > 30 {
		return errdefs.Invalid("subnet %s is too small: a network needs at least a /30", s)
	}
	for _, e := range existing {
		if e.Subnet.Overlaps(s) {
			return errdefs.Conflict("subnet %s overlaps network %q (%s)", s, e.Name, e.Subnet)
		}
	}
	if err := p.nodeUses(s, n.Bridged()); err != nil {
		return err
	}
	n.Subnet = s
	return nil
}

// special are ranges no network can use.
var special = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (0.0.0.0/8)`},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback (127.0.0.0/8)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (169.254.0.0/16)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast (224.0.0.0/4)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved and broadcast (240.0.0.0/4)"},
}

// nodeUses refuses a subnet the node uses already: a special range, a
// route of the node other than the default, an address it holds, or a
// neighbour answering for its gateway or first addresses. Such a network
// would take the node's own traffic (Docker checks its routes likewise).
// A macvlan or ipvlan network's subnet is the LAN's, which the node is
// on as well: only the special ranges are refused.
func (p planner) nodeUses(s netip.Prefix, bridged bool) error {
	for _, sp := range special {
		if sp.prefix.Overlaps(s) {
			return errdefs.Invalid("subnet %s overlaps %s, which no network can use", s, sp.what)
		}
	}
	if !bridged {
		return nil
	}
	hosts, err := p.dev.HostNets()
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Prefix.Overlaps(s) {
			return errdefs.Conflict("subnet %s overlaps the node's %s: a network there would take the node's "+
				"own traffic; choose another subnet", s, h.What)
		}
	}
	neigh, err := p.dev.Neighbours()
	if err != nil {
		return err
	}
	first := s.Addr().Next()
	for _, nb := range neigh {
		if s.Contains(nb.Addr) && nb.Addr.Compare(first.Next().Next()) <= 0 {
			return errdefs.Conflict("subnet %s: %s, one of its first addresses, is in use on the node's link %s "+
				"(MAC %s); choose another subnet", s, nb.Addr, nb.Device, nb.MAC)
		}
	}
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
		r, err := ParsePrefix("ip-range", req.IPRange)
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

// planAux reserves --aux-address NAME=IP addresses: in the subnet, and
// neither its gateway nor its network or broadcast address.
func planAux(req api.NetworkCreate, n *store.Network) error {
	if len(req.AuxAddresses) == 0 {
		return nil
	}
	n.AuxAddresses = map[string]netip.Addr{}
	for name, v := range req.AuxAddresses {
		a, err := netip.ParseAddr(v)
		switch {
		case name == "":
			return errdefs.Invalid("aux-address %q has no name: want NAME=IP", v)
		case err != nil || !a.Is4():
			return errdefs.Invalid("aux-address %s=%q is not an IPv4 address", name, v)
		case !n.Subnet.Contains(a):
			return errdefs.Invalid("aux-address %s=%s is outside the subnet %s", name, a, n.Subnet)
		case a == n.Gateway:
			return errdefs.Invalid("aux-address %s=%s is the gateway", name, a)
		case a == n.Subnet.Addr() || a == ipam.LastAddr(n.Subnet):
			return errdefs.Invalid("aux-address %s=%s is the network or broadcast address of %s", name, a, n.Subnet)
		}
		n.AuxAddresses[name] = a
	}
	return nil
}

func (p planner) device(req api.NetworkCreate, n *store.Network, existing []store.Network) error {
	n.MTU = p.cfg.MTU
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
	if p.dev.LinkExists(n.Bridge) {
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

// defaultPools is where networks without --subnet get theirs, in Docker's
// order: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s.
func defaultPools() []netip.Prefix {
	var out []netip.Prefix
	for b := 17; b <= 31; b++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(b), 0, 0}), 16))
	}
	for c := 0; c < 256; c += 16 {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 168, byte(c), 0}), 20))
	}
	return out
}

// freeSubnet picks the first default pool that overlaps no network and no
// route or address of the node.
func (p planner) freeSubnet(existing []store.Network) (netip.Prefix, error) {
	hosts, err := p.dev.HostNets()
	if err != nil {
		return netip.Prefix{}, err
	}
	var taken []netip.Prefix
	for _, h := range hosts {
		taken = append(taken, h.Prefix)
	}
	for _, n := range existing {
		taken = append(taken, n.Subnet)
	}
next:
	for _, pool := range defaultPools() {
		for _, t := range taken {
			if pool.Overlaps(t) {
				continue next
			}
		}
		return pool, nil
	}
	return netip.Prefix{}, errdefs.Limit("no free subnet left in the default pools; pass --subnet")
}
