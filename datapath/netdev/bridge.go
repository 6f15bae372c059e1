package netdev

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Bridge is a network's bridge as the kernel must hold it.
type Bridge struct {
	Name    string
	Alias   string
	MTU     int
	MAC     net.HardwareAddr
	Gateway netip.Prefix // the gateway address, with the subnet's length
}

// EnsureBridge makes the kernel hold b, up, creating it or taking over
// one a crash left without its alias, and returns its ifindex. A device of
// that name that is not ebpfnet's is a conflict. Idempotent.
func (Netlink) EnsureBridge(b Bridge) (int, error) {
	br, err := netlink.LinkByName(b.Name)
	switch {
	case IsNotFound(err):
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.HardwareAddr = b.Name, b.MTU, b.MAC
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return 0, fmt.Errorf("create bridge %s: %w", b.Name, err)
		}
		if br, err = netlink.LinkByName(b.Name); err != nil {
			return 0, fmt.Errorf("find bridge %s: %w", b.Name, err)
		}
		if err := netlink.LinkSetAlias(br, b.Alias); err != nil {
			return 0, fmt.Errorf("set alias of %s: %w", b.Name, err)
		}
	case err != nil:
		return 0, fmt.Errorf("find bridge %s: %w", b.Name, err)
	default:
		ours, err := claim(br, "bridge", b.Alias)
		if err != nil {
			return 0, err
		}
		if !ours {
			return 0, errdefs.Conflict("a device named %s already exists and is not ebpfnet's", b.Name)
		}
	}
	if err := configureBridge(br, b); err != nil {
		return 0, err
	}
	return br.Attrs().Index, nil
}

func configureBridge(br netlink.Link, b Bridge) error {
	if br.Attrs().MTU != b.MTU {
		if err := netlink.LinkSetMTU(br, b.MTU); err != nil {
			return fmt.Errorf("set MTU of %s: %w", b.Name, err)
		}
	}
	if br.Attrs().HardwareAddr.String() != b.MAC.String() {
		if err := netlink.LinkSetHardwareAddr(br, b.MAC); err != nil {
			return fmt.Errorf("set MAC of %s: %w", b.Name, err)
		}
	}
	if err := netlink.AddrReplace(br, &netlink.Addr{IPNet: PrefixNet(b.Gateway)}); err != nil {
		return fmt.Errorf("add gateway %s to %s: %w", b.Gateway.Addr(), b.Name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("set %s up: %w", b.Name, err)
	}
	return nil
}

// MaxBridgePorts is how many ports a Linux bridge takes (BR_MAX_PORTS
// 1024, port 0 reserved).
const MaxBridgePorts = 1023
