package control

import (
	"errors"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/ipam"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// endpoint plans a new endpoint with its first interface, on the network
// named or the default one, whose allocation cursor it advances.
func (p planner) endpoint(tx *store.Tx, req api.EndpointCreate) (*store.Endpoint, *store.Network, error) {
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
	ep := &store.Endpoint{Name: req.Name, State: store.StateReady, OnGone: store.OnGoneKeep, Created: time.Now().UTC(),
		ContainerID: req.ContainerID, DockerID: req.DockerID, Handoff: req.Handoff}
	switch req.OnGone {
	case "", store.OnGoneKeep:
	case store.OnGoneRemove:
		ep.OnGone = store.OnGoneRemove
	default:
		return nil, nil, errdefs.Invalid("on-gone %q: want keep or remove", req.OnGone)
	}
	if err := p.netnsOrHandoff(tx, ep, req); err != nil {
		return nil, nil, err
	}
	name := req.Ifname
	if name == "" {
		name = "eth0"
	}
	if ep.DNS, err = checkDNSConf(req.DNS); err != nil {
		return nil, nil, err
	}
	ifc, err := p.iface(tx, ep, n, ifaceReq{IP: req.IP, Name: name, MAC: req.MAC, Aliases: req.Aliases})
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

// netnsOrHandoff: a handoff endpoint has no namespace, and its one
// interface's far end, made in the daemon's namespace, must have a name
// no device there has.
func (p planner) netnsOrHandoff(tx *store.Tx, ep *store.Endpoint, req api.EndpointCreate) error {
	if !req.Handoff {
		return p.netns(tx, ep, req.Netns)
	}
	switch {
	case req.Netns != "":
		return errdefs.Invalid("a handoff endpoint has no netns: its runtime moves its interface")
	case len(req.Networks) > 1:
		return errdefs.Invalid("a handoff endpoint has one network")
	case req.Ifname == "":
		return errdefs.Invalid("a handoff endpoint needs the name of its interface's far end")
	case p.dev.LinkExists(req.Ifname):
		return errdefs.Conflict("a device named %s already exists in the daemon's namespace", req.Ifname)
	}
	return nil
}

// netns decides the endpoint's namespace: /run/netns/<name>, created with
// the endpoint, or an existing one the caller names, which must not be the
// daemon's own.
func (p planner) netns(tx *store.Tx, ep *store.Endpoint, path string) error {
	if path == "" {
		ep.Netns, ep.OwnNetns = filepath.Join(netdev.NetnsDir, ep.Name), true
		if _, err := p.dev.NetnsIno(ep.Netns); err == nil {
			return errdefs.Conflict("%s already exists; adopt it with --netns %s", ep.Netns, ep.Netns)
		}
		return nil
	}
	if !filepath.IsAbs(path) {
		return errdefs.Invalid("netns path %q is not absolute", path)
	}
	ino, err := p.dev.NetnsIno(path)
	if err != nil {
		return errdefs.Invalid("netns %s: %v", path, err)
	}
	if ino == p.cfg.OwnNetns {
		return errdefs.Invalid("netns %s is the daemon's own network namespace", path)
	}
	eps, err := tx.Endpoints()
	if err != nil {
		return err
	}
	for _, e := range eps {
		if e.Name == ep.Name || e.State == store.StateGone {
			continue // itself, attaching anew; or one whose namespace is no more
		}
		if e.NetnsIno == ino || (e.OwnNetns && p.sameNetns(e.Netns, ino)) {
			return errdefs.Conflict("netns %s is already endpoint %q", path, e.Name)
		}
	}
	ep.Netns, ep.NetnsIno = path, ino
	return nil
}

// netnsAlive says whether the endpoint's namespace is still there: its
// /run/netns file, or the adopted namespace behind its path.
func (p planner) netnsAlive(ep *store.Endpoint) bool {
	if ep.Handoff {
		return p.handoffAlive(ep)
	}
	ino, err := p.dev.NetnsIno(ep.Netns)
	return err == nil && (ep.OwnNetns || ino == ep.NetnsIno)
}

// handoffAlive: a handoff endpoint lives while its host sides do; they
// go with the sandbox its runtime moved their far ends into.
func (p planner) handoffAlive(ep *store.Endpoint) bool {
	for _, i := range ep.Interfaces {
		if !p.dev.LinkExists(i.HostName) {
			return false
		}
	}
	return true
}

func (p planner) sameNetns(path string, ino uint64) bool {
	i, err := p.dev.NetnsIno(path)
	return err == nil && i == ino
}

// ifaceReq is what the caller asks of a new interface: its name inside
// the endpoint, and optionally its address and MAC.
type ifaceReq struct {
	IP, Name, MAC string
	Aliases       []string
}

// iface picks the address, names and MAC of a new interface of ep, and
// advances the network's allocation cursor.
func (p planner) iface(tx *store.Tx, ep *store.Endpoint, n *store.Network, req ifaceReq) (*store.Interface, error) {
	if err := checkIfname(req.Name); err != nil {
		return nil, err
	}
	for _, i := range ep.Interfaces {
		if i.Name == req.Name {
			return nil, errdefs.Conflict("endpoint %q already has an interface %s", ep.Name, req.Name)
		}
	}
	mac, err := parseMAC(req.MAC)
	if err != nil {
		return nil, err
	}
	aliases, err := checkAliases(req.Aliases)
	if err != nil {
		return nil, err
	}
	eps, err := tx.Endpoints()
	if err != nil {
		return nil, err
	}
	used := store.AddrsOn(eps, n.Name)
	if n.Bridged() && len(used) >= netdev.MaxBridgePorts {
		return nil, errdefs.Limit("network %q has %d endpoints: its bridge %s is full, a Linux bridge takes "+
			"at most %d ports; put further endpoints on another network", n.Name, len(used), n.Bridge, netdev.MaxBridgePorts)
	}
	if !n.Bridged() {
		if mac, err = p.subIface(ep, n, mac, used); err != nil {
			return nil, err
		}
	}
	ip, err := pickAddr(n, req.IP, used)
	if err != nil {
		return nil, err
	}
	host := ""
	for n.Bridged() && (host == "" || p.dev.LinkExists(host)) {
		host = vethPrefix + randomHex(8)
	}
	if mac == "" {
		mac = endpointMAC(ip).String()
	}
	return &store.Interface{Network: n.Name, Name: req.Name, HostName: host, IP: ip, MAC: mac, Aliases: aliases}, nil
}

// pickAddr is the address asked for, if it is free and in the pool, else
// the next free one after the network's cursor, which it advances.
func pickAddr(n *store.Network, reqIP string, used map[netip.Addr]bool) (netip.Addr, error) {
	aux := map[netip.Addr]string{}
	for name, a := range n.AuxAddresses {
		aux[a] = name
	}
	isUsed := func(a netip.Addr) bool { _, reserved := aux[a]; return used[a] || reserved }
	pool := ipam.Pool{Subnet: n.Subnet, Range: n.IPRange, Gateway: n.Gateway}
	if reqIP != "" {
		ip, err := netip.ParseAddr(reqIP)
		if err != nil {
			return netip.Addr{}, errdefs.Invalid("ip %q is not an IPv4 address", reqIP)
		}
		if name, ok := aux[ip]; ok {
			return netip.Addr{}, errdefs.Conflict("address %s is reserved on network %q (aux-address %s)", ip, n.Name, name)
		}
		if err := pool.CheckStatic(ip, isUsed); err != nil {
			if used[ip] {
				return netip.Addr{}, errdefs.Conflict("%v", err)
			}
			return netip.Addr{}, errdefs.Invalid("%v", err)
		}
		return ip, nil
	}
	ip, err := pool.Next(n.LastIP, isUsed)
	if errors.Is(err, ipam.ErrFull) {
		taken, _ := pool.Use(used)
		return netip.Addr{}, errdefs.Limit("network %q has no free address left: its %d endpoint addresses of %s are "+
			"all taken; remove an endpoint or create a network with a bigger subnet", n.Name, taken, n.PoolName())
	}
	if err != nil {
		return netip.Addr{}, err
	}
	n.LastIP = ip
	return ip, nil
}
