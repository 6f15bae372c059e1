// Package datapath is ebpfnet's control plane: it turns the desired state
// in the store (networks, endpoints) into kernel state (bridges, veths,
// namespaces, map entries, attached programs) and keeps the two in step.
package datapath

import (
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/loader"
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
	Log           *zap.Logger
}

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
)
