// Package daemon is the ebpfnet daemon's life: it takes the state dir and
// its lock, mounts bpffs, loads the datapath and attaches the uplink and
// socket programs, has the orchestrator reconcile the kernel with the
// store, serves the API on a root-only unix socket, runs the conntrack GC,
// and stops (the datapath stays) or resets (everything goes).
package daemon

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Version is reported by `ebpfnet status`.
var Version = "0.1.0-dev"

// Config is what `ebpfnet daemon start` takes.
type Config struct {
	StateDir      string
	BPFFS         string // pin dir for maps and links
	Socket        string
	Uplink        string // empty: the device of the default route
	DefaultSubnet string // empty: the first pool that overlaps nothing
	Attach        loader.Mode
	CTMax         uint32 // enet_ct entries
	NATMax        uint32 // enet_nat entries (two per flow)
	PortMin       uint16 // range for masquerade source ports that must change
	PortMax       uint16
	GCInterval    time.Duration
	CTTimeouts    maps.CTTimeouts // conntrack timeouts; netfilter's defaults for those it lacks
	Cgroup        string          // cgroup v2 dir for the socket programs; empty: the root
	// DockerPlugin is where the Docker network driver listens; empty:
	// it does not. dockerd finds plugins in /run/docker/plugins: a socket
	// NAME.sock there is the driver NAME.
	DockerPlugin string
	// DNS are the upstream servers the networks' resolvers forward to;
	// empty: those of ResolvConf (the node's), loopback ones left out.
	DNS        []netip.AddrPort
	ResolvConf string
	// XDP is how enet_xdp_up goes on the uplink.
	XDP loader.XDPMode
	// Metrics is where Prometheus metrics are served: "unix:PATH" or
	// HOST:PORT; empty: nowhere.
	Metrics string
	Log     *zap.Logger
}

// DefaultResolvConf is where the node's upstream resolvers are read.
const DefaultResolvConf = "/etc/resolv.conf"

// ParseXDP checks an --xdp value: auto, native, generic or off.
func ParseXDP(s string) (loader.XDPMode, error) { return loader.ParseXDPMode(s) }

// ParseAttach checks a --attach value: auto, tcx or tc.
func ParseAttach(s string) (loader.Mode, error) { return loader.ParseMode(s) }

// CTTimeoutNames are the names --ct-timeout takes: netfilter's
// nf_conntrack_*_timeout_* sysctls, dashed.
func CTTimeoutNames() []string { return maps.CTTimeoutNames() }

// ParseCTTimeouts reads --ct-timeout NAME=DURATION settings.
func ParseCTTimeouts(specs []string) (maps.CTTimeouts, error) { return maps.ParseCTTimeouts(specs) }

// Defaults sized like Cilium's: its global CT tables hold 512k TCP and
// 256k other entries.
const (
	DefaultCTMax      = 262144
	DefaultNATMax     = 2 * DefaultCTMax
	DefaultPortMin    = 1024
	DefaultPortMax    = 65535
	DefaultGCInterval = 15 * time.Second
)

// Defaults for the paths.
const (
	DefaultStateDir = "/var/lib/ebpfnet"
	DefaultBPFFS    = "/sys/fs/bpf/ebpfnet"
)

const pidFile = "daemon.pid"

// DefaultDockerPlugin is --docker-plugin's socket when given no path:
// the driver is "ebpfnet" to Docker.
const DefaultDockerPlugin = "/run/docker/plugins/ebpfnet.sock"
