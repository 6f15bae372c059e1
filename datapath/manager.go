package datapath

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Manager owns the store and the loaded datapath, and implements the API.
// Changes are serialized by mu; reads go to the store and maps directly.
type Manager struct {
	cfg     Config
	log     *zap.Logger
	store   *store.Store
	dp      *loader.Datapath
	maps    *maps.Set
	uplink  netlink.Link // nil when the node has no default route
	started time.Time
	mode    atomic.Value // loader.Mode the last attach used (auto resolves to tcx or tc)
	// netnsIno is the daemon's network namespace, read at start: later
	// /proc/self/ns/net may be another, as the runtime parks the main
	// thread where a goroutine locked to it left it.
	netnsIno uint64

	// flowMu lets one of the GC and a flush at a time take flows out: each
	// puts back what it took by mistake, which the other must not miss.
	flowMu sync.Mutex

	mu       sync.Mutex
	reserved map[string]int // published port key -> socket holding it
	stopOnce sync.Once
	stopped  chan struct{}
	reset    bool // set by Reset: Run wipes state after stopping
}

func newManager(cfg Config, st *store.Store, dp *loader.Datapath) *Manager {
	return &Manager{
		cfg:      cfg,
		log:      cfg.Log,
		store:    st,
		dp:       dp,
		maps:     maps.For(dp),
		started:  time.Now(),
		stopped:  make(chan struct{}),
		reserved: map[string]int{},
	}
}

// Stop asks Run to shut the daemon down; the datapath stays.
func (m *Manager) Stop(context.Context) error {
	m.stopOnce.Do(func() { close(m.stopped) })
	return nil
}

// attach puts a program on a hook and remembers which mode it took.
func (m *Manager) attach(prog *ebpf.Program, ifname string, ifindex int, hook loader.Hook) error {
	mode, err := m.dp.Attach(m.cfg.Attach, prog, ifname, ifindex, hook)
	if err == nil {
		m.mode.Store(mode)
	}
	return err
}

// attachMode is the mode as configured, with what auto resolved to.
func (m *Manager) attachMode() string {
	got, _ := m.mode.Load().(loader.Mode)
	if m.cfg.Attach == loader.ModeAuto && got != "" {
		return fmt.Sprintf("auto (%s)", got)
	}
	return string(m.cfg.Attach)
}

// defaultMTU is the uplink's MTU, so endpoints never send more than the
// way out carries; 1500 without an uplink.
func (m *Manager) defaultMTU() int {
	if m.uplink != nil && m.uplink.Attrs().MTU > 0 {
		return m.uplink.Attrs().MTU
	}
	return 1500
}

func networkView(n *store.Network, endpoints []string) api.Network {
	v := api.Network{
		Name:       n.Name,
		ID:         n.ID,
		Subnet:     n.Subnet.String(),
		Gateway:    n.Gateway.String(),
		Bridge:     n.Bridge,
		MTU:        n.MTU,
		ICC:        n.ICC,
		Internal:   n.Internal,
		Masquerade: n.Masquerade,
		Default:    n.Default,
		Endpoints:  endpoints,
		Created:    n.Created,
	}
	if n.IPRange.IsValid() {
		v.IPRange = n.IPRange.String()
	}
	if v.Endpoints == nil {
		v.Endpoints = []string{}
	}
	return v
}

func endpointView(e *store.Endpoint) api.Endpoint {
	v := api.Endpoint{Name: e.Name, Netns: e.Netns, OwnNetns: e.OwnNetns, State: e.State, Created: e.Created, Interfaces: []api.Interface{}}
	for _, i := range e.Interfaces {
		idx := 0
		if l, err := netlink.LinkByName(i.HostName); err == nil {
			idx = l.Attrs().Index
		}
		v.Interfaces = append(v.Interfaces, api.Interface{
			Network: i.Network, Name: i.Name, IP: i.IP.String(), MAC: i.MAC,
			HostName: i.HostName, HostIfindex: idx,
		})
	}
	return v
}

// networksAndEndpoints reads both in one transaction.
func (m *Manager) networksAndEndpoints() (nets []store.Network, eps []store.Endpoint, err error) {
	err = m.store.View(func(tx *store.Tx) error {
		if nets, err = tx.Networks(); err != nil {
			return err
		}
		eps, err = tx.Endpoints()
		return err
	})
	return nets, eps, err
}

// usedAddrs is every address handed out on a network.
func usedAddrs(eps []store.Endpoint, network string) map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, e := range eps {
		if i, ok := e.Iface(network); ok {
			used[i.IP] = true
		}
	}
	return used
}
