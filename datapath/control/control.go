// Package control is ebpfnet's orchestrator: it turns API requests into
// desired state and kernel state, always in the same steps. Plan (check
// the request, fill in defaults, choose addresses and names), write the
// plan to the store in one transaction, apply it to the kernel, and roll
// both back if the kernel refuses. At start-up, Reconcile brings the
// kernel in line with the store. The kernel is behind two small
// interfaces, Devices (netdev) and Datapath (maps and programs), so the
// planning and rollback logic is tested without root.
package control

import (
	"net/netip"
	"sync"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Devices is the kernel's network objects, as datapath/netdev makes them.
type Devices interface {
	LinkExists(name string) bool
	LinkIndex(name string) int
	LinkName(ifindex int) string
	Links() ([]netdev.Link, error)
	HostNets() ([]netdev.HostNet, error)
	Neighbours() ([]netdev.Neighbour, error)
	EnsureBridge(b netdev.Bridge) (ifindex int, err error)
	DeleteOwned(name, alias string) error
	NetnsIno(path string) (uint64, error)
	CreateNetns(path string) error
	DeleteNetns(path string) error
	EnsureVeth(v netdev.Veth) (ifindex int, err error)
	PlugVeth(host, bridge string) error
	ConfigureInside(in netdev.Inside) error
	FreeIfname(netns string, taken map[string]bool) (string, error)
	LoopbackUp(netns string) error
	// Info, EnsureParent, ProbeSub, EnsureSub and DeleteSub serve
	// macvlan and ipvlan networks.
	Info(name string) (netdev.LinkInfo, error)
	EnsureParent(p netdev.Parent) error
	ProbeSub(kind, parent string) error
	EnsureSub(s netdev.Sub) error
	DeleteSub(netns, name, alias string) error
}

// Datapath is the maps and programs, as Kernel holds them.
type Datapath interface {
	PutNetwork(n maps.Network) error
	DeleteNetwork(id uint32, subnet netip.Prefix) error
	PutIface(i maps.Iface) error
	// ForgetIface removes what the datapath knows of a host veth: its
	// enet_ifaces entry, its counters and its flows.
	ForgetIface(ifindex int) error
	AttachEndpoint(ifname string, ifindex int) error
	// AttachBridge puts enet_to_br on a network's bridge; DetachBridge
	// takes it off and drops the bridge's counters.
	AttachBridge(ifname string, ifindex int) error
	DetachBridge(ifname string, ifindex int) error
	DetachEndpoint(ifname string, ifindex int) error
	DetachAll(ifname string, ifindex int) error
	PutEndpoint(e maps.Endpoint) error
	DeleteEndpoint(ip netip.Addr) error
	// Sweep removes map entries and link pins the desired state does not
	// name.
	Sweep(d Desired) error
}

// Publisher is the datapath's side of publications (datapath/ports).
type Publisher interface {
	Activate(pubs []ports.Publication, target netip.Addr) error
	Published(endpoint string, pubs []ports.Publication, target netip.Addr)
	Withdraw(gone []store.Port, target netip.Addr) error
	Retarget(moved []store.Port, target netip.Addr) error
	Restore(live, gone []store.Port, targets map[string]netip.Addr) error
	Release(ports []store.Port) error
	Reactivate(ports []store.Port, target netip.Addr) error
}

// Config is what the orchestrator takes from the daemon.
type Config struct {
	MTU           int    // of new networks by default: the uplink's
	OwnNetns      uint64 // the daemon's namespace, which no endpoint may adopt
	DefaultSubnet string // of the default network; empty: a free pool
	// Uplink is the node's device to the outside, which the sweep keeps;
	// nil without one.
	Uplink *netdev.Uplink
	// Defrag is the defragmentation helper's veth (netdev.DefragDevice),
	// which the daemon makes and removes and the sweep keeps.
	Defrag string
	// Names hears of every change; nil: nobody listens.
	Names Names
}

// Control serializes every change: one request at a time plans, commits
// and applies. Reads go to the store without it.
type Control struct {
	cfg   Config
	store *store.Store
	dev   Devices
	dp    Datapath
	pub   Publisher
	log   *zap.Logger
	mu    sync.Mutex
	// frozen: Freeze was called; guarded by mu.
	frozen bool
	// names hears of every change, under mu (Config.Names).
	names Names
}

// Names is what follows the store's networks and endpoints as they
// change: the daemon's resolver. Sync is called after every change,
// before the change's call returns, with the store as it then is.
type Names interface {
	Sync(nets []store.Network, eps []store.Endpoint)
}

// New is the orchestrator of a daemon.
func New(cfg Config, st *store.Store, dev Devices, dp Datapath, pub Publisher, log *zap.Logger) *Control {
	return &Control{cfg: cfg, store: st, dev: dev, dp: dp, pub: pub, log: log, names: cfg.Names}
}

// Freeze stops every change from starting: those after it are refused
// (system reset wipes everything as the daemon exits).
func (c *Control) Freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

// lock takes the lock every change takes, unless Freeze came first.
func (c *Control) lock() error {
	c.mu.Lock()
	if c.frozen {
		c.mu.Unlock()
		return errdefs.Unavailable("the daemon is resetting: it takes no more changes")
	}
	return nil
}

// unlock lets go of the lock after a change, telling names the store as
// the change left it, so the next query sees it.
func (c *Control) unlock() {
	defer c.mu.Unlock()
	if c.names == nil {
		return
	}
	nets, eps, err := c.store.NetworksAndEndpoints()
	if err != nil {
		c.log.Warn("names: read the store", logf.Err(err))
		return
	}
	c.names.Sync(bridgedOnly(nets, eps))
}

// bridgedOnly is what names serves: the bridge networks, and the
// endpoints' interfaces on them. A macvlan or ipvlan network's endpoints
// are on the LAN, where the node's resolvers cannot be reached from them
// (the node cannot reach its own macvlan endpoints through the parent).
func bridgedOnly(nets []store.Network, eps []store.Endpoint) ([]store.Network, []store.Endpoint) {
	bridged := map[string]bool{}
	outNets := nets[:0:0]
	for _, n := range nets {
		if n.Bridged() {
			bridged[n.Name] = true
			outNets = append(outNets, n)
		}
	}
	if len(outNets) == len(nets) {
		return nets, eps
	}
	outEps := make([]store.Endpoint, len(eps))
	for i, e := range eps {
		outEps[i] = e
		outEps[i].Interfaces = nil
		for _, ifc := range e.Interfaces {
			if bridged[ifc.Network] {
				outEps[i].Interfaces = append(outEps[i].Interfaces, ifc)
			}
		}
	}
	return outNets, outEps
}

var (
	_ Devices   = netdev.Netlink{}
	_ Datapath  = (*Kernel)(nil)
	_ Publisher = (*ports.Publisher)(nil)
)
