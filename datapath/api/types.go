// Package api is the daemon's HTTP+JSON interface on a unix socket: the
// request and response types, the server, and the client the CLI uses.
package api

import "time"

// NetworkCreate is the body of POST /v1/networks.
type NetworkCreate struct {
	Name     string            `json:"name"`
	Subnet   string            `json:"subnet,omitempty"`
	Gateway  string            `json:"gateway,omitempty"`
	IPRange  string            `json:"ip_range,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	MTU      int               `json:"mtu,omitempty"`
	Bridge   string            `json:"bridge,omitempty"`
	Options  map[string]string `json:"options,omitempty"` // icc, masquerade; parent, macvlan_mode, ipvlan_mode
	// DockerID: Docker creates the network through the network driver.
	DockerID string `json:"docker_id,omitempty"`
	// Driver is bridge (also when empty), macvlan or ipvlan.
	Driver string `json:"driver,omitempty"`
	// AuxAddresses are addresses IPAM must not hand out, by name (docker
	// network create --aux-address NAME=IP).
	AuxAddresses map[string]string `json:"aux_addresses,omitempty"`
}

// Network is a network as the API shows it.
type Network struct {
	Name       string    `json:"name"`
	ID         uint32    `json:"id"`
	Subnet     string    `json:"subnet"`
	Gateway    string    `json:"gateway"`
	IPRange    string    `json:"ip_range,omitempty"`
	Bridge     string    `json:"bridge"`
	MTU        int       `json:"mtu"`
	ICC        bool      `json:"icc"`
	Internal   bool      `json:"internal"`
	Masquerade bool      `json:"masquerade"`
	Default    bool      `json:"default"`
	Endpoints  []string  `json:"endpoints"`
	Created    time.Time `json:"created"`
	DockerID   string    `json:"docker_id,omitempty"`
	Driver     string    `json:"driver"`
	// Parent and Mode are a macvlan or ipvlan network's: the node's device
	// its endpoints sit on, and the driver's mode.
	Parent       string            `json:"parent,omitempty"`
	Mode         string            `json:"mode,omitempty"`
	AuxAddresses map[string]string `json:"aux_addresses,omitempty"`
}

// EndpointCreate is the body of POST /v1/endpoints.
type EndpointCreate struct {
	Name    string `json:"name"`
	Network string `json:"network,omitempty"` // default network when empty
	IP      string `json:"ip,omitempty"`
	// Networks, instead of Network and IP, are several networks to join,
	// in order, as docker run with several --network joins them: eth0 and
	// the default route on the first, eth1, eth2, ... on the others. If
	// one cannot be joined, the endpoint is not created.
	Networks []EndpointNetwork `json:"networks,omitempty"`
	Netns    string            `json:"netns,omitempty"` // adopt this namespace instead of creating one
	// Publish holds Docker -p specs published once the endpoint exists.
	Publish []string `json:"publish,omitempty"`
	// PublishUnheld: the runtime holds the host ports of Publish itself
	// (a CNI runtime's portMappings), so ebpfnet binds none.
	PublishUnheld bool `json:"publish_unheld,omitempty"`
	// OnGone is what happens when the namespace goes away without the
	// endpoint: "keep" (the default: it is gone, keeping its addresses and
	// publications until a namespace is attached) or "remove".
	OnGone string `json:"on_gone,omitempty"`
	// Ifname and MAC, when given, name the first interface inside the
	// namespace (default eth0) and set its MAC (default derived from
	// its address).
	Ifname string `json:"ifname,omitempty"`
	MAC    string `json:"mac,omitempty"`
	// ContainerID marks an endpoint a CNI runtime attached: the CNI
	// calls find it by this id.
	ContainerID string `json:"container_id,omitempty"`
	// Handoff: make the interface's far end in the daemon's namespace,
	// named Ifname and left down and unconfigured, for a runtime to move
	// into its sandbox (Docker's Join). Netns must be empty, and only
	// one network is allowed.
	Handoff bool `json:"handoff,omitempty"`
	// DockerID marks an endpoint Docker made through the network driver.
	DockerID string `json:"docker_id,omitempty"`
	// Aliases are more names on Network (Docker's --network-alias); with
	// Networks, each network's are in its entry.
	Aliases []string `json:"aliases,omitempty"`
	DNS     DNSConf  `json:"dns,omitzero"`
}

// DNSConf is docker run's --dns, --dns-search and --dns-option: the
// endpoint's upstream servers (its resolver forwards other names to them
// instead of the daemon's), and its resolv.conf's search and options.
type DNSConf struct {
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
}

// IsZero says whether no DNS setting is given.
func (d DNSConf) IsZero() bool { return len(d.Servers)+len(d.Search)+len(d.Options) == 0 }

// Attach is the body of POST /v1/endpoints/{name}/attach: the namespace a
// gone endpoint takes; empty for a new /run/netns/NAME.
type Attach struct {
	Netns string `json:"netns,omitempty"`
}

// EndpointNetwork is a network a new endpoint joins, with the address
// asked for on it (empty: the next free one).
type EndpointNetwork struct {
	Name   string `json:"name"`
	IP     string `json:"ip,omitempty"`
	Ifname string `json:"ifname,omitempty"` // default: the next free ethN
	MAC    string `json:"mac,omitempty"`    // default: derived from the address
	// Aliases are more names the endpoint answers to on this network.
	Aliases []string `json:"aliases,omitempty"`
}

// NetworkPruneReport is what POST /v1/networks/prune removed, as
// Docker's API reports it.
type NetworkPruneReport struct {
	NetworksDeleted []string `json:"networks_deleted"`
}

// Publish is the body of POST /v1/endpoints/{name}/publish and /unpublish.
type Publish struct {
	Specs []string `json:"specs"`
	// Unheld: the runtime holds these host ports itself, so ebpfnet
	// binds none (Publish only).
	Unheld bool `json:"unheld,omitempty"`
}

// Port is a published port, as `ebpfnet port` shows it.
type Port struct {
	Endpoint      string `json:"endpoint"`
	Proto         string `json:"proto"`
	HostIP        string `json:"host_ip"` // 0.0.0.0: every address
	HostPort      uint16 `json:"host_port"`
	ContainerPort uint16 `json:"container_port"`
	Target        string `json:"target"` // the endpoint address and port
}

// BPFPort is an enet_ports entry.
type BPFPort struct {
	Proto    string `json:"proto"`
	HostIP   string `json:"host_ip"`
	HostPort uint16 `json:"host_port"`
	Target   string `json:"target"`
	Endpoint string `json:"endpoint,omitempty"`
}

// Endpoint is an endpoint as the API shows it.
type Endpoint struct {
	Name        string      `json:"name"`
	ContainerID string      `json:"container_id,omitempty"` // set for CNI attachments
	DockerID    string      `json:"docker_id,omitempty"`    // set for Docker's endpoints
	Handoff     bool        `json:"handoff,omitempty"`      // its runtime moved its interface into its sandbox
	Netns       string      `json:"netns"`
	OwnNetns    bool        `json:"own_netns"`
	State       string      `json:"state"` // ready; gone (its namespace went away); removing (a removal failed)
	OnGone      string      `json:"on_gone"`
	Interfaces  []Interface `json:"interfaces"`
	Created     time.Time   `json:"created"`
	// Ports are the endpoint's publications, host ports chosen for a bare
	// container port included.
	Ports []Port  `json:"ports"`
	DNS   DNSConf `json:"dns,omitzero"`
	// Mode is docker run's --network none, host or container:NAME;
	// empty for an endpoint with networks of its own.
	Mode string `json:"mode,omitempty"`
	// Sharers are the endpoints created with container:THIS.
	Sharers []string `json:"sharers,omitempty"`
}

// Removed is what a forced removal took with the endpoint: the
// endpoints that shared its namespace.
type Removed struct {
	Sharers []string `json:"sharers"`
}

// Interface is one of an endpoint's veth pairs.
type Interface struct {
	Network     string   `json:"network"`
	Name        string   `json:"name"`
	IP          string   `json:"ip"`
	MAC         string   `json:"mac"`
	HostName    string   `json:"host_name"`
	HostIfindex int      `json:"host_ifindex"`
	Aliases     []string `json:"aliases,omitempty"`
}

// Connect is the body of POST /v1/networks/{name}/connect and /disconnect.
type Connect struct {
	Endpoint string `json:"endpoint"`
	IP       string `json:"ip,omitempty"`
	Ifname   string `json:"ifname,omitempty"` // default: the next free ethN
	MAC      string `json:"mac,omitempty"`    // default: derived from the address
	// Aliases are more names the endpoint answers to on the network.
	Aliases []string `json:"aliases,omitempty"`
}

// Aliases is the body of PUT /v1/endpoints/{name}/aliases: the names the
// endpoint answers to on a network, beside its own, replacing those it had.
type Aliases struct {
	Network string   `json:"network"`
	Aliases []string `json:"aliases"`
}

// Status is GET /v1/status.
type Status struct {
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	BuildID    uint32    `json:"build_id"` // loaded into the programs (loader.BuildID)
	Started    time.Time `json:"started"`
	StateDir   string    `json:"state_dir"`
	BPFFS      string    `json:"bpffs"`
	Socket     string    `json:"socket"`
	Uplink     string    `json:"uplink,omitempty"`
	AttachMode string    `json:"attach_mode"`
	// DockerPlugin is where the Docker network driver listens; empty: it
	// does not (daemon start --docker-plugin).
	DockerPlugin string `json:"docker_plugin,omitempty"`
	Defrag       Defrag `json:"defrag"`
	// XDP is enet_xdp_up on the uplink: native, generic or off, and why.
	XDP      XDP       `json:"xdp"`
	Programs []Program `json:"programs"`
	// SocketPrograms are the socket programs on the cgroup, which rewrite
	// the node's own connections to published ports.
	SocketPrograms []SocketProgram `json:"socket_programs"`
	Maps           []MapFill       `json:"maps"`
	Drops          uint64          `json:"drops"`
	// DropsBy is Drops per reason, as `ebpfnet bpf stats` names them.
	DropsBy map[string]uint64 `json:"drops_by_reason"`
	// Evicted counts packets of flows that lost an entry to a full
	// enet_ct or enet_nat (flow-evicted in enet_stats).
	Evicted   uint64       `json:"flows_evicted"`
	Networks  int          `json:"networks"`
	Endpoints int          `json:"endpoints"`
	Pools     []NetworkUse `json:"pools"`
	Resources Resources    `json:"resources"`
}

// Defrag is the uplink's defragmentation helper: a network namespace of
// the daemon's whose kernel reassembles the datagrams whose later
// fragment comes first, reached through a veth.
type Defrag struct {
	On      bool   `json:"on"`
	Why     string `json:"why,omitempty"` // why it is off
	Device  string `json:"device,omitempty"`
	Ifindex int    `json:"ifindex,omitempty"`
	Netns   string `json:"netns,omitempty"`   // where the namespace is mounted
	LinkID  uint32 `json:"link_id,omitempty"` // the netfilter link that defragments there
	ProgID  uint32 `json:"prog_id,omitempty"` // and its program
}

// NetworkUse is how much of a network's two limits its endpoints take:
// addresses of its pool and ports of its bridge. A full one refuses the
// next endpoint with a 409.
type NetworkUse struct {
	Network        string `json:"network"`
	Pool           string `json:"pool"` // where addresses come from: the ip-range, else the subnet
	Addresses      int    `json:"addresses"`
	FreeAddresses  int    `json:"free_addresses"`
	BridgePorts    int    `json:"bridge_ports"`
	MaxBridgePorts int    `json:"max_bridge_ports"` // the kernel's
}

// Resources is what the daemon process holds, for spotting leaks.
type Resources struct {
	FDs        int    `json:"fds"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"` // Go heap in use (HeapInuse)
	RSSBytes   uint64 `json:"rss_bytes"`  // VmRSS
}

// Program is a datapath program attached to an interface.
type Program struct {
	Interface string `json:"interface"`
	Ifindex   int    `json:"ifindex"`
	Hook      string `json:"hook"`
	Mode      string `json:"mode"` // tcx or tc
	Name      string `json:"name"`
	ID        uint32 `json:"id"`
}

// SocketProgram is a socket program's cgroup link.
type SocketProgram struct {
	Name       string `json:"name"`
	ID         uint32 `json:"id"`
	Hook       string `json:"hook"`        // the link's pin name under the bpffs dir
	AttachType string `json:"attach_type"` // the kernel's, as cilium/ebpf names it
	Cgroup     string `json:"cgroup"`      // its path, if it is the daemon's --cgroup
	CgroupID   uint64 `json:"cgroup_id"`
}

// MapFill is how full a pinned map is.
type MapFill struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Entries    int    `json:"entries"`
	MaxEntries uint32 `json:"max_entries"`
}

// BPFEndpoint is an enet_endpoints entry, resolved to names.
type BPFEndpoint struct {
	IP        string `json:"ip"`
	Ifindex   int    `json:"ifindex"`
	Interface string `json:"interface"`
	MAC       string `json:"mac"`
	NetID     uint32 `json:"net_id"`
	Network   string `json:"network"`
	Endpoint  string `json:"endpoint"`
}

// BPFNetwork is an enet_networks entry, resolved to names.
type BPFNetwork struct {
	ID            uint32 `json:"id"`
	Network       string `json:"network"`
	Subnet        string `json:"subnet"`
	Gateway       string `json:"gateway"`
	GatewayMAC    string `json:"gateway_mac"`
	BridgeIfindex int    `json:"bridge_ifindex"`
	ICC           bool   `json:"icc"`
	Internal      bool   `json:"internal"`
	Masquerade    bool   `json:"masquerade"`
}

// BPFCounter is an enet_stats entry summed over CPUs.
type BPFCounter struct {
	Ifindex   int    `json:"ifindex"`
	Interface string `json:"interface"`
	Endpoint  string `json:"endpoint,omitempty"`
	Reason    string `json:"reason"`
	Drop      bool   `json:"drop"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
}

// BPFFlow is an enet_ct entry: a tracked flow.
type BPFFlow struct {
	Proto        string   `json:"proto"`
	Src          string   `json:"src"` // original direction, as the endpoint (or the node) sent it
	Dst          string   `json:"dst"`
	ReplySrc     string   `json:"reply_src"` // reply direction, as it arrives translated
	ReplyDst     string   `json:"reply_dst"`
	State        string   `json:"state"`
	Flags        []string `json:"flags"`
	Endpoint     string   `json:"endpoint,omitempty"`
	AgeSeconds   float64  `json:"age_seconds"`
	TTLSeconds   float64  `json:"ttl_seconds"` // time left before it expires
	PacketsOrig  uint64   `json:"packets_orig"`
	BytesOrig    uint64   `json:"bytes_orig"`
	PacketsReply uint64   `json:"packets_reply"`
	BytesReply   uint64   `json:"bytes_reply"`
}

// BPFNAT is a live enet_nat entry: packets arriving as From leave as To.
type BPFNAT struct {
	Proto      string  `json:"proto"`
	FromSrc    string  `json:"from_src"`
	FromDst    string  `json:"from_dst"`
	ToSrc      string  `json:"to_src"`
	ToDst      string  `json:"to_dst"`
	Direction  string  `json:"direction"`   // original or reply
	Host       bool    `json:"host"`        // the node's own flow
	State      string  `json:"state"`       // its flow's, as BPFFlow.State
	TTLSeconds float64 `json:"ttl_seconds"` // time left before its flow expires
	Packets    uint64  `json:"packets"`     // translated by this entry: its flow's, in its direction
	Bytes      uint64  `json:"bytes"`
}

// Trace is the body of POST /v1/bpf/trace.
type Trace struct {
	Mode string `json:"mode"` // off, drops, all
}

// ErrorBody is what every 4xx and 5xx response carries.
type ErrorBody struct {
	Error string `json:"error"`
}

// DNSRecord is a name a network's resolver answers, and with what.
type DNSRecord struct {
	Network string   `json:"network"`
	Name    string   `json:"name"`
	Type    string   `json:"type"` // A, or PTR (Name is then the address)
	Values  []string `json:"values"`
}

// DNSStatus is GET /v1/dns: where the resolvers listen, where they
// forward, and what they did with the queries.
type DNSStatus struct {
	Stub      string            `json:"stub"`      // the endpoints' nameserver: 127.0.0.11
	Listening map[string]string `json:"listening"` // network -> its resolver's address
	Upstreams []string          `json:"upstreams"`
	Counts    map[string]uint64 `json:"counts"`
}
