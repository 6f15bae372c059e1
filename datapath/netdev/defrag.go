package netdev

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The defragmentation helper (bpf/lib/frag.h): a network namespace of the
// daemon's own, mounted in its state dir (not /run/netns: `ip netns list`
// is the user's, and two daemons never share a state dir), joined to the
// node by a veth pair. Its kernel reassembles the datagrams whose later
// fragment came first on the uplink and forwards them back over the veth,
// its one route: a default route to a link-local gateway whose MAC, a
// permanent neighbour entry, is the uplink's, so what the helper sends
// back is the node's when it reaches the uplink's ingress. The node's side
// of the veth has no address: one there would be an address of the node.
const (
	DefragDevice    = "enetdfrg0" // the node's side of the veth
	DefragAlias     = AliasPrefix + "defrag"
	defragPeer      = "dfrg0" // the helper's side
	defragNetnsFile = "defrag.netns"
)

var defragGateway = net.IPv4(169, 254, 0, 1)

// DefragNetns is where the helper namespace of the daemon whose state dir
// is stateDir is mounted.
func DefragNetns(stateDir string) string { return filepath.Join(stateDir, defragNetnsFile) }

// Defrag is the helper namespace to make.
type Defrag struct {
	Netns  string // where it is mounted: DefragNetns
	Uplink int    // the uplink's ifindex: the veth takes its MTU, the gateway its MAC
}

// EnsureDefrag makes the helper namespace, its settings and its veth, or
// checks what a daemon before made, and returns the node side's ifindex
// and whether the namespace is a new one.
func (nl Netlink) EnsureDefrag(d Defrag) (int, bool, error) {
	up, err := netlink.LinkByIndex(d.Uplink)
	if err != nil {
		return 0, false, fmt.Errorf("find uplink (ifindex %d): %w", d.Uplink, err)
	}
	mac := up.Attrs().HardwareAddr
	if len(mac) != 6 {
		return 0, false, fmt.Errorf("uplink %s has no Ethernet address", up.Attrs().Name)
	}
	fresh := false
	if _, err := NetnsIno(d.Netns); err != nil {
		if err := createNetnsAt(d.Netns); err != nil {
			return 0, false, err
		}
		fresh = true
	}
	ns, err := openNetns(d.Netns)
	if err != nil {
		return 0, fresh, err
	}
	defer ns.Close()
	if err := inNetns(ns, helperSysctls); err != nil {
		return 0, fresh, err
	}
	ifindex, err := nl.ensureDefragVeth(ns, d.Netns, up.Attrs().MTU, fresh)
	if err != nil {
		return 0, fresh, err
	}
	return ifindex, fresh, configureHelper(ns, up.Attrs().MTU, mac)
}

// helperSysctls: the helper forwards what comes in on its one device out
// of it again, which the kernel does only with rp_filter off and without
// sending redirects; it has no IPv6, set before its device comes, so it
// never sends a router solicitation back.
func helperSysctls() error {
	for _, s := range [][2]string{
		{"net/ipv4/ip_forward", "1"},
		{"net/ipv4/conf/all/rp_filter", "0"},
		{"net/ipv4/conf/default/rp_filter", "0"},
		{"net/ipv4/conf/all/send_redirects", "0"},
		{"net/ipv4/conf/default/send_redirects", "0"},
		{"net/ipv6/conf/all/disable_ipv6", "1"},
		{"net/ipv6/conf/default/disable_ipv6", "1"},
	} {
		err := WriteSysctl(s[0], s[1])
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s[0], "net/ipv6/") {
			continue // a kernel without IPv6
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureDefragVeth makes the veth pair, or keeps the one there if its
// peer is in the helper, and brings the node side up at the uplink's MTU,
// without IPv6.
func (nl Netlink) ensureDefragVeth(ns netns.NsHandle, path string, mtu int, fresh bool) (int, error) {
	if !fresh && !peerIn(ns) {
		fresh = true // the node side, if any, is joined to a namespace gone since
	}
	if fresh {
		if err := nl.DeleteOwned(DefragDevice, DefragAlias); err != nil {
			return 0, err
		}
	}
	ifindex, err := nl.EnsureVeth(Veth{Host: DefragDevice, Alias: DefragAlias, Peer: defragPeer, MTU: mtu, Netns: path})
	if err != nil {
		return 0, err
	}
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, fmt.Errorf("find %s: %w", DefragDevice, err)
	}
	if err := WriteSysctl("net/ipv6/conf/"+DefragDevice+"/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if err := setMTUUp(netlink.LinkSetMTU, netlink.LinkSetUp, l, mtu); err != nil {
		return 0, err
	}
	return ifindex, nil
}

func peerIn(ns netns.NsHandle) bool {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return false
	}
	defer h.Close()
	_, err = h.LinkByName(defragPeer)
	return err == nil
}

func setMTUUp(setMTU func(netlink.Link, int) error, setUp func(netlink.Link) error, l netlink.Link, mtu int) error {
	if l.Attrs().MTU != mtu {
		if err := setMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU of %s to %d: %w", l.Attrs().Name, mtu, err)
		}
	}
	if err := setUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
	}
	return nil
}

// configureHelper brings the helper's side up at the uplink's MTU, with
// its route and gateway. Its loopback comes up first: the kernel checks a
// gateway against the namespace's local table, which has no entry before
// the namespace has an address, lo's 127.0.0.1.
func configureHelper(ns netns.NsHandle, mtu int, mac net.HardwareAddr) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the helper netns: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up in the helper netns: %w", err)
	}
	peer, err := h.LinkByName(defragPeer)
	if err != nil {
		return fmt.Errorf("find %s in the helper netns: %w", defragPeer, err)
	}
	if err := setMTUUp(h.LinkSetMTU, h.LinkSetUp, peer, mtu); err != nil {
		return err
	}
	idx := peer.Attrs().Index
	neigh := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: defragGateway, HardwareAddr: mac}
	if err := h.NeighSet(neigh); err != nil {
		return fmt.Errorf("set the helper's gateway %s at %s: %w", defragGateway, mac, err)
	}
	route := &netlink.Route{LinkIndex: idx, Gw: defragGateway, Flags: int(netlink.FLAG_ONLINK)}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("add the helper's default route: %w", err)
	}
	return nil
}

// DeleteDefrag removes the helper namespace and its veth. The namespace
// itself goes once nothing holds it: its netfilter link does, until it is
// unpinned.
func (nl Netlink) DeleteDefrag(netnsPath string) error {
	return errors.Join(nl.DeleteOwned(DefragDevice, DefragAlias), nl.DeleteNetns(netnsPath))
}
