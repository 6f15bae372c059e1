package world

import (
	"net/netip"
	"os/exec"
	"strings"
)

// Addresses of the LAN behind the node's second device, where macvlan
// endpoints live (RFC 5737 documentation addresses).
var (
	LANPrefix  = netip.MustParsePrefix("192.0.2.0/24")
	LANGateway = netip.MustParseAddr("192.0.2.1")   // the LAN's router, in lan
	LANHostIP  = netip.MustParseAddr("192.0.2.100") // a host on the LAN, in lan
	LANNodeIP  = netip.MustParseAddr("192.0.2.10")  // the node's own address on it
)

const (
	LANParentDev = "eth1" // in the node: the parent of macvlan networks
	LANBridgeDev = "br0"  // in lan: the LAN's switch
	LANPortDev   = "lan0" // in lan: the switch port the node is plugged into
)

// AddLAN gives the node a second device, eth1 with 192.0.2.10/24, plugged
// into a switch (a bridge, br0) in a third netns, "lan", which holds the
// LAN's router address 192.0.2.1 and a host, 192.0.2.100, on the switch.
// It returns lan's name. Close removes lan with the rest.
func (w *World) AddLAN() string {
	w.t.Helper()
	lan := w.Name("lan")
	steps := [][]string{
		{"netns", "add", lan},
		{"link", "add", LANParentDev, "netns", w.Node, "type", "veth", "peer", "name", LANPortDev, "netns", lan},
		{"-n", lan, "link", "add", LANBridgeDev, "type", "bridge"},
		{"-n", lan, "link", "set", LANPortDev, "master", LANBridgeDev},
		{"-n", lan, "addr", "add", LANGateway.String() + "/24", "dev", LANBridgeDev},
		{"-n", lan, "addr", "add", LANHostIP.String() + "/24", "dev", LANBridgeDev},
		{"-n", w.Node, "addr", "add", LANNodeIP.String() + "/24", "dev", LANParentDev},
		{"-n", lan, "link", "set", "lo", "up"},
		{"-n", lan, "link", "set", LANPortDev, "up"},
		{"-n", lan, "link", "set", LANBridgeDev, "up"},
		{"-n", w.Node, "link", "set", LANParentDev, "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			w.t.Fatalf("world: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return lan
}

// LANHairpin turns the switch's reflective relay on the node's port on or
// off: what macvlan's vepa mode needs of the switch for endpoints of one
// parent to reach each other.
func (w *World) LANHairpin(on bool) {
	w.t.Helper()
	mode := "off"
	if on {
		mode = "on"
	}
	w.MustExec(w.Name("lan"), "bridge", "link", "set", "dev", LANPortDev, "hairpin", mode)
}
