package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "show what the datapath does, live: verdicts, drops, new and ended flows, socket rewrites",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "type", Aliases: []string{"t"}, Usage: "drop, verdict (every verdict, drops " +
				"included) or flow (new and ended flows, socket rewrites); repeatable (default: all)"},
			&cli.StringFlag{Name: "endpoint", Usage: "only the events of this endpoint"},
			&cli.StringFlag{Name: "network", Usage: "only the events on this network"},
			&cli.StringFlag{Name: "proto", Usage: "only this protocol: tcp, udp, icmp, ..."},
			&cli.UintFlag{Name: "port", Usage: "only packets and flows with this port, before or after translation"},
			jsonFlag,
		},
		Action: monitor,
	}
}

func monitor(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.Uint("port") > 65535 {
		return newUsageError(c.Command, exitFlags, "--port %d: want 1-65535", c.Uint("port"))
	}
	f := api.MonitorFilter{Types: c.StringSlice("type"), Endpoint: c.String("endpoint"), Network: c.String("network"),
		Proto: c.String("proto"), Port: uint16(c.Uint("port"))}
	m, err := client(c).Monitor(c.Context, f)
	if err != nil {
		return err
	}
	defer func() { _ = m.Close() }()
	for {
		ev, err := m.Next()
		switch {
		case errors.Is(err, io.EOF) || c.Err() != nil:
			return nil
		case err != nil:
			return err
		case c.Bool("json"):
			if err := printJSONLine(ev); err != nil {
				return err
			}
		default:
			fmt.Println(monitorLine(ev))
		}
	}
}

// monitorLine is an event on one line: time, type, where, the tuple
// before and after translation, and the verdict or the flow's counts.
func monitorLine(ev api.MonitorEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-8s", ev.Time.Local().Format("15:04:05.000000"), ev.Type)
	switch ev.Type {
	case "lost":
		fmt.Fprintf(&b, " %d events (%s)", ev.Lost, ev.LostBy)
		return b.String()
	case "attached":
		return b.String() + " listening for events; ctrl-c to stop"
	}
	where := ev.Interface
	if ev.Endpoint != "" {
		where += "(" + ev.Endpoint + ")"
	}
	if ev.Program != "" {
		where = ev.Program + " " + where
	}
	if where != "" {
		fmt.Fprintf(&b, " %s", strings.TrimSpace(where))
	}
	fmt.Fprintf(&b, " %s %s -> %s", ev.Proto, orDash(ev.Src), orDash(ev.Dst))
	if ev.XSrc != "" || ev.XDst != "" {
		fmt.Fprintf(&b, " => %s -> %s", orDash(ev.XSrc), orDash(ev.XDst))
	}
	if ev.Translation != "" {
		fmt.Fprintf(&b, " [%s]", ev.Translation)
	}
	switch ev.Type {
	case "drop", "verdict":
		fmt.Fprintf(&b, " %s %s", ev.Verdict, ev.Reason)
		if ev.Target != "" {
			fmt.Fprintf(&b, " to %s", ev.Target)
		}
	case "flow-end":
		fmt.Fprintf(&b, " %d packets %d bytes %.1fs", ev.Packets, ev.Bytes, ev.Seconds)
	}
	return b.String()
}
