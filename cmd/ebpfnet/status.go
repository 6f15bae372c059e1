package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
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
	fmt.Printf("networks:   %d\nendpoints:  %d\ndrops:      %d (ebpfnet bpf stats)\n", st.Networks, st.Endpoints, st.Drops)
	r := st.Resources
	fmt.Printf("daemon:     %d fds, %d goroutines, %.1f MiB heap, %.1f MiB resident\n\n", r.FDs, r.Goroutines,
		float64(r.HeapBytes)/(1<<20), float64(r.RSSBytes)/(1<<20))
	t := newTable("PROGRAM", "ID", "INTERFACE", "IFINDEX", "HOOK", "MODE")
	for _, p := range st.Programs {
		t.row(p.Name, fmt.Sprint(p.ID), p.Interface, fmt.Sprint(p.Ifindex), p.Hook, p.Mode)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Println()
	t = newTable("MAP", "TYPE", "ENTRIES", "MAX", "FULL")
	var warnings []string
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
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	return nil
}

// mapWarning explains what a nearly full map means for traffic.
func mapWarning(name, typ string, full float64) string {
	if strings.HasPrefix(typ, "LRU") {
		return fmt.Sprintf("%s is %.0f%% full: idle flows are being evicted to make room; "+
			"raise --ct-max/--nat-max if live flows are lost", name, full)
	}
	return fmt.Sprintf("%s is %.0f%% full: new entries will be refused", name, full)
}
