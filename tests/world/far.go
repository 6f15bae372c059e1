package world

import (
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
)

// Addresses of the far network, behind ext.
var (
	ExtFarIP = netip.MustParseAddr("203.0.113.1")
	FarIP    = netip.MustParseAddr("203.0.113.2")
)

const (
	ExtFarDev = "ext1" // in ext
	FarDev    = "far0" // in far
)

// AddFar makes ext a router to a third netns, "far", on 203.0.113.0/24,
// and returns its name. The link's ext side has MTU extMTU, its far side
// 1500: a packet from the node to far bigger than extMTU makes ext answer
// with ICMP fragmentation needed. Close removes far with the rest.
func (w *World) AddFar(extMTU int) string {
	w.t.Helper()
	far := w.Name("far")
	steps := [][]string{
		{"netns", "add", far},
		{"link", "add", ExtFarDev, "netns", w.Ext, "mtu", strconv.Itoa(extMTU), "type", "veth",
			"peer", "name", FarDev, "netns", far, "mtu", "1500"},
		{"-n", w.Ext, "addr", "add", ExtFarIP.String() + "/24", "dev", ExtFarDev},
		{"-n", far, "addr", "add", FarIP.String() + "/24", "dev", FarDev},
		{"-n", w.Ext, "link", "set", ExtFarDev, "up"},
		{"-n", far, "link", "set", "lo", "up"},
		{"-n", far, "link", "set", FarDev, "up"},
		{"-n", far, "route", "add", "default", "via", ExtFarIP.String()},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			w.t.Fatalf("world: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	w.MustExec(w.Ext, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	return far
}
