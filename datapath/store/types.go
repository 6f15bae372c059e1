package store

import (
	"fmt"
	"net/netip"
	"time"
)

// Network is a bridge network as the user defined it, plus what ebpfnet
// chose for it (id, bridge name, gateway).
type Network struct {
	Name       string       `json:"name"`
	ID         uint32       `json:"id"` // key of enet_networks
	Subnet     netip.Prefix `json:"subnet"`
	Gateway    netip.Addr   `json:"gateway"`
	IPRange    netip.Prefix `json:"ip_range,omitzero"`
	Bridge     string       `json:"bridge"`
	MTU        int          `json:"mtu"`
	ICC        bool         `json:"icc"`
	Internal   bool         `json:"internal"`
	Masquerade bool         `json:"masquerade"`
	Default    bool         `json:"default,omitempty"`
	// LastIP is where sequential allocation resumes, as Docker's IPAM does,
	// so a freed address is not handed out again at once.
	LastIP  netip.Addr `json:"last_ip,omitzero"`
	Created time.Time  `json:"created"`
	// DockerID: Docker created this network through ebpfnet's network
	// driver, and names it by this id.
	DockerID string `json:"docker_id,omitempty"`
	// Driver is DriverBridge (also when empty), DriverMacvlan or
	// DriverIpvlan. A macvlan or ipvlan network has no bridge: its
	// endpoints' devices sit on Parent, in Mode.
	Driver string `json:"driver,omitempty"`
	Parent string `json:"parent,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// MadeParent: ebpfnet made Parent (an 802.1q IF.VLAN, or an internal
	// network's dummy) and removes it with the network.
	MadeParent bool `json:"made_parent,omitempty"`
	// AuxAddresses are addresses of the subnet IPAM never hands out
	// (Docker's --aux-address), by name.
	AuxAddresses map[string]netip.Addr `json:"aux_addresses,omitempty"`
}

// Network drivers.
const (
	DriverBridge  = "bridge"
	DriverMacvlan = "macvlan"
	DriverIpvlan  = "ipvlan"
)

// Bridged says whether the network is a bridge network, served by the
// eBPF datapath; a macvlan or ipvlan network's endpoints are on the LAN.
func (n *Network) Bridged() bool { return n.Driver == "" || n.Driver == DriverBridge }

// DriverName is the network's driver, DriverBridge when it is empty.
func (n *Network) DriverName() string {
	if n.Driver == "" {
		return DriverBridge
	}
	return n.Driver
}

// Masquerades says whether the network's traffic out is source-NATed:
// never an internal network's, which has no way out (networks stored
// before this rule may hold Masquerade with Internal).
func (n *Network) Masquerades() bool { return n.Masquerade && !n.Internal }

// PoolName is where a network's addresses come from: its ip-range, else
// its subnet.
func (n *Network) PoolName() string {
	if n.IPRange.IsValid() {
		return n.IPRange.String()
	}
	return n.Subnet.String()
}

// AddrsOn is every address the endpoints hold on a network.
func AddrsOn(eps []Endpoint, network string) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, e := range eps {
		if i, ok := e.Iface(network); ok {
			used[i.IP] = true
		}
	}
	return used
}

// Endpoint states. Removal is recorded before it starts, so a crash in the
// middle is finished by the next start instead of leaking a netns. An
// endpoint is gone when its namespace went away without it (a container
// stopped): it keeps its addresses and publications, and nothing is
// delivered to it, until a namespace is attached again or it is removed.
const (
	StateReady    = "ready"
	StateRemoving = "removing"
	StateGone     = "gone"
)

// What happens to an endpoint whose namespace goes away (Endpoint.OnGone).
const (
	OnGoneKeep   = "keep"   // it becomes gone, keeping its addresses and publications
	OnGoneRemove = "remove" // it is removed, as `endpoint rm` would
)

// Endpoint is a network namespace with one interface per network.
type Endpoint struct {
	Name  string `json:"name"`
	Netns string `json:"netns"` // path of the namespace
	// OwnNetns: ebpfnet created /run/netns/<name> and removes it with the
	// endpoint. Otherwise the namespace was adopted and is left alone.
	OwnNetns bool `json:"own_netns"`
	// NetnsIno identifies an adopted namespace, so a reused /proc/PID path
	// is not mistaken for it after a restart.
	NetnsIno   uint64      `json:"netns_ino,omitempty"`
	Interfaces []Interface `json:"interfaces"`
	State      string      `json:"state"`
	// OnGone is OnGoneKeep (also when empty) or OnGoneRemove.
	OnGone  string    `json:"on_gone,omitempty"`
	Created time.Time `json:"created"`
	// ContainerID: a CNI runtime attached this endpoint, and names it so.
	ContainerID string `json:"container_id,omitempty"`
	// Handoff: the endpoint has no namespace of ebpfnet's knowing. Its
	// one interface's far end was made in the daemon's namespace, under
	// the interface's name, for a runtime to move into its sandbox and
	// configure (Docker's network driver protocol). It is alive while its
	// host side is.
	Handoff bool `json:"handoff,omitempty"`
	// DockerID: Docker made this endpoint through the network driver,
	// and names it by this id.
	DockerID string `json:"docker_id,omitempty"`
	// DNS is what the endpoint's resolv.conf and resolver use, as docker
	// run's --dns, --dns-search and --dns-option set them.
	DNS DNSConf `json:"dns,omitzero"`
	// Mode is how the endpoint is networked, as docker run's --network
	// none, host or container:NAME: ModeNetworks (also when empty) has
	// its interfaces; ModeNone only loopback, in a namespace of its own;
	// ModeHost is the node's namespace; ModeContainer shares the
	// namespace of endpoint Shares, and has nothing of its own.
	Mode   string `json:"mode,omitempty"`
	Shares string `json:"shares,omitempty"`
}

// Endpoint modes.
const (
	ModeNetworks  = "networks"
	ModeNone      = "none"
	ModeHost      = "host"
	ModeContainer = "container"
)

// Plain says whether the endpoint has networks of its own, to be
// connected to and published on: not none, host or container:NAME.
func (e *Endpoint) Plain() bool { return e.Mode == "" || e.Mode == ModeNetworks }

// DNSConf is an endpoint's resolver settings: its own upstream servers
// (empty: the daemon's), search domains and resolv.conf options.
type DNSConf struct {
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
}

// Interface is one veth pair, Name inside the endpoint and HostName on
// the network's bridge; or, on a macvlan or ipvlan network, the device
// Name inside the endpoint, with no HostName.
type Interface struct {
	Network  string     `json:"network"`
	Name     string     `json:"name"`
	HostName string     `json:"host_name"`
	IP       netip.Addr `json:"ip"`
	MAC      string     `json:"mac"`
	// Aliases are more names the endpoint answers to on this network's
	// resolver, beside its own (Docker's --network-alias).
	Aliases []string `json:"aliases,omitempty"`
}

// Veth says whether the interface is a veth pair on a bridge network; a
// macvlan or ipvlan interface has no host side.
func (i *Interface) Veth() bool { return i.HostName != "" }

// Iface returns the endpoint's interface on a network.
func (e *Endpoint) Iface(network string) (*Interface, bool) {
	for i := range e.Interfaces {
		if e.Interfaces[i].Network == network {
			return &e.Interfaces[i], true
		}
	}
	return nil, false
}

// Port is a published port: a host address (zero: every address), port
// and protocol leading to a port of an endpoint.
type Port struct {
	Proto    string     `json:"proto"`
	HostIP   netip.Addr `json:"host_ip,omitzero"`
	HostPort uint16     `json:"host_port"`
	Endpoint string     `json:"endpoint"`
	CPort    uint16     `json:"container_port"`
	// Unheld: the runtime holds the host port (Podman binds it before
	// its CNI ADD), so ebpfnet binds no socket to it.
	Unheld bool `json:"unheld,omitempty"`
}

// Key identifies a publication in the store: protocol, address, port.
func (p *Port) Key() string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	return fmt.Sprintf("%s/%s/%d", p.Proto, ip, p.HostPort)
}
