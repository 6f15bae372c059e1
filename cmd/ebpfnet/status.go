package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:   "status",
		Usage:  "the daemon, its attached programs and how full its maps are",
		Flags:  []cli.Flag{jsonFlag},
		Action: status,
	}
}

func status(c *cli.Context) error {
	st, err := client(c).Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(st)
	}
	fmt.Printf("daemon:     pid %d, version %s, up %s\n", st.PID, st.Version, time.Since(st.Started).Round(time.Second))
	fmt.Printf("state:      %s\nbpffs:      %s\nsocket:     %s\n", st.StateDir, st.BPFFS, st.Socket)
	fmt.Printf("uplink:     %s\nattach:     %s\n", orDash(st.Uplink), st.AttachMode)
	fmt.Printf("networks:   %d\nendpoints:  %d\ndrops:      %d (ebpfnet bpf stats)\n\n", st.Networks, st.Endpoints, st.Drops)
	t := newTable("PROGRAM", "ID", "INTERFACE", "IFINDEX", "HOOK", "MODE")
	for _, p := range st.Programs {
		t.row(p.Name, fmt.Sprint(p.ID), p.Interface, fmt.Sprint(p.Ifindex), p.Hook, p.Mode)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Println()
	t = newTable("MAP", "TYPE", "ENTRIES", "MAX", "FULL")
	for _, m := range st.Maps {
		t.row(m.Name, m.Type, fmt.Sprint(m.Entries), fmt.Sprint(m.MaxEntries),
			fmt.Sprintf("%.1f%%", 100*float64(m.Entries)/float64(max(m.MaxEntries, 1))))
	}
	return t.flush()
}
