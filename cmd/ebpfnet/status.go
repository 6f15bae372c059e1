package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:   "status",
		Usage:  "the daemon, its attached programs and how full its maps are",
		Flags:  []cli.Flag{jsonFlag, gcFlag},
		Action: status,
	}
}

// gcFlag makes the memory figures comparable from one status to the next,
// as a check for leaks needs.
var gcFlag = &cli.BoolFlag{Name: "gc", Usage: "have the daemon collect garbage first, so its memory figures are what it holds"}

func status(c *cli.Context) error {
	cl := client(c)
	if c.Bool("gc") {
		if err := cl.FreeMemory(c.Context); err != nil {
			return err
		}
	}
	st, err := cl.Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(st)
	}
	fmt.Printf("daemon:     pid %d, version %s, up %s\n", st.PID, st.Version, time.Since(st.Started).Round(time.Second))
	fmt.Printf("state:      %s\nbpffs:      %s\nsocket:     %s\n", st.StateDir, st.BPFFS, st.Socket)
	fmt.Printf("uplink:     %s\nattach:     %s\n", orDash(st.Uplink), st.AttachMode)
	fmt.Printf("docker:     %s\n", dockerPlugin(st.DockerPlugin))
	fmt.Printf("defrag:     %s\n", defrag(st.Defrag))
	xdp := st.XDP.Mode
	if st.XDP.Why != "" {
		xdp += " (" + st.XDP.Why + ")"
	}
	fmt.Printf("xdp:        %s\n", xdp)
	fmt.Printf("networks:   %d\nendpoints:  %d\ndrops:      %d (%sebpfnet bpf stats)\n", st.Networks, st.Endpoints, st.Drops,
		byReason(st.DropsBy))
	fmt.Printf("evicted:    %d packets of flows that lost an entry to a full enet_ct or enet_nat\n", st.Evicted)
	r := st.Resources
	fmt.Printf("resources:  %d fds, %d goroutines, %.1f MiB heap, %.1f MiB resident\n\n", r.FDs, r.Goroutines,
		float64(r.HeapBytes)/(1<<20), float64(r.RSSBytes)/(1<<20))
	t := newTable("PROGRAM", "ID", "INTERFACE", "IFINDEX", "HOOK", "MODE")
	for _, p := range st.Programs {
		t.row(p.Name, fmt.Sprint(p.ID), p.Interface, fmt.Sprint(p.Ifindex), p.Hook, p.Mode)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Println()
	t = newTable("SOCKET-PROGRAM", "ID", "HOOK", "ATTACH-TYPE", "CGROUP")
	for _, p := range st.SocketPrograms {
		t.row(p.Name, fmt.Sprint(p.ID), p.Hook, p.AttachType, p.Cgroup)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Println()
	warnings, err := pools(st.Pools)
	if err != nil {
		return err
	}
	fmt.Println()
	t = newTable("MAP", "TYPE", "ENTRIES", "MAX", "FULL")
	for _, m := range st.Maps {
		full := 100 * float64(m.Entries) / float64(max(m.MaxEntries, 1))
		t.row(m.Name, m.Type, fmt.Sprint(m.Entries), fmt.Sprint(m.MaxEntries), fmt.Sprintf("%.1f%%", full))
		if full >= 90 {
			warnings = append(warnings, mapWarning(m.Name, m.Type, full))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	if st.Evicted > 0 {
		warnings = append(warnings, fmt.Sprintf("%d packets came for flows evicted from a full enet_ct or enet_nat: "+
			"a flow that lost its conntrack entry starts over, which breaks a TCP connection; raise --ct-max and --nat-max",
			st.Evicted))
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	return nil
}

// pools prints each network's use of its limits and warns of full ones.
func pools(use []api.NetworkUse) ([]string, error) {
	var warnings []string
	t := newTable("NETWORK", "POOL", "ADDRESSES", "FREE", "BRIDGE-PORTS")
	for _, u := range use {
		t.row(u.Network, u.Pool, fmt.Sprint(u.Addresses), fmt.Sprint(u.FreeAddresses),
			fmt.Sprintf("%d/%d", u.BridgePorts, u.MaxBridgePorts))
		if u.FreeAddresses == 0 {
			warnings = append(warnings, fmt.Sprintf("network %s has no free address in %s: new endpoints on it are refused",
				u.Network, u.Pool))
		}
		if u.BridgePorts >= u.MaxBridgePorts {
			warnings = append(warnings, fmt.Sprintf("network %s has %d bridge ports, the kernel's limit: "+
				"new endpoints on it are refused", u.Network, u.BridgePorts))
		}
	}
	return warnings, t.flush()
}

// defrag says where the uplink's datagrams whose first fragment comes
// last are reassembled, or why they are not.
func defrag(d api.Defrag) string {
	if !d.On {
		return "off (" + d.Why + "): a datagram whose first fragment comes last on the uplink is lost"
	}
	return fmt.Sprintf("on: %s into the helper namespace %s, netfilter link %d (program %d)", d.Device, d.Netns, d.LinkID, d.ProgID)
}

// byReason is "reason n, ...; " for the reasons that have drops.
func byReason(by map[string]uint64) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(by)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, by[r]))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + "; "
}

// mapWarning explains what a nearly full map means for traffic.
func mapWarning(name, typ string, full float64) string {
	if strings.HasPrefix(typ, "LRU") {
		return fmt.Sprintf("%s is %.0f%% full: idle flows are being evicted to make room; "+
			"raise --ct-max/--nat-max if live flows are lost", name, full)
	}
	return fmt.Sprintf("%s is %.0f%% full: new entries will be refused", name, full)
}

// dockerPlugin says where Docker finds the network driver, if anywhere.
func dockerPlugin(sock string) string {
	if sock == "" {
		return "- (no network driver: daemon start --docker-plugin)"
	}
	return "network driver on " + sock
}
