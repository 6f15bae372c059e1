// Package inspect answers what the daemon and its datapath hold: `ebpfnet
// status` and the `ebpfnet bpf ...` listings, with datapath ids resolved
// to the names users gave (and to the monitor, MonitorNames).
package inspect

import (
	"time"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Daemon is what status reports of the daemon itself.
type Daemon struct {
	PID      int
	Version  string
	Started  time.Time
	StateDir string
	BPFFS    string
	Socket   string
	Uplink   *netdev.Uplink // nil without one
	// AttachMode is the mode as configured, with what auto resolved to.
	AttachMode func() string
	Cgroup     string     // of the socket programs; empty: the cgroup2 root
	Defrag     api.Defrag // the defragmentation helper, as the daemon set it up
	// DockerPlugin is the Docker network driver's socket; empty: off.
	DockerPlugin string
	XDP          api.XDP // enet_xdp_up on the uplink, as the daemon set it up
}

// Inspector reads the store, the maps and the kernel; it changes nothing.
type Inspector struct {
	store  *store.Store
	dp     *loader.Datapath
	maps   *maps.Set
	dev    netdev.Netlink
	daemon Daemon
	log    *zap.Logger
}

// New is the inspector of a running daemon.
func New(st *store.Store, dp *loader.Datapath, m *maps.Set, d Daemon, log *zap.Logger) *Inspector {
	return &Inspector{store: st, dp: dp, maps: m, daemon: d, log: log}
}
