// Package datapath is ebpfnet's control plane: it turns the desired state
// in the store (networks, endpoints) into kernel state (bridges, veths,
// namespaces, map entries, attached programs) and keeps the two in step.
package datapath

import (
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
	Log           *zap.Logger
}

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

// Names of what ebpfnet creates.
const (
	defaultNetwork = "bridge" // Docker's name for its default network
	defaultBridge  = "enet0"  // its docker0
	aliasPrefix    = "ebpfnet:"
	vethPrefix     = "enetv"
	bridgePrefix   = "enet-"
	// maxBridgePorts is the kernel's limit (BR_MAX_PORTS, port 0 reserved).
	maxBridgePorts = 1023
)
