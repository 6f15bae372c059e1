package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func prefilterCommand() *cli.Command {
	return &cli.Command{
		Name:  "prefilter",
		Usage: "source prefixes the uplink drops at XDP, before the stack (daemon start --xdp)",
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "drop these sources, counted per prefix", ArgsUsage: "CIDR [CIDR...]", Action: prefilterAdd},
			{Name: "ls", Aliases: []string{"list"}, Usage: "list the prefixes and what each dropped", Flags: []cli.Flag{jsonFlag},
				Action: prefilterList},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "stop dropping these sources", ArgsUsage: "CIDR [CIDR...]",
				Action: prefilterRemove},
		},
	}
}

func prefilterAdd(c *cli.Context) error {
	a, err := minArgs(c, 1)
	if err != nil {
		return err
	}
	got, err := client(c).Prefilter().Add(c.Context, a)
	for _, p := range got {
		fmt.Println(p.Prefix)
	}
	return err
}

func prefilterList(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	all, err := client(c).Prefilter().List(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(all, err)
	}
	t := newTable("PREFIX", "PACKETS", "BYTES")
	for _, p := range all {
		t.row(p.Prefix, fmt.Sprint(p.Packets), fmt.Sprint(p.Bytes))
	}
	return t.flush()
}

func prefilterRemove(c *cli.Context) error {
	a, err := minArgs(c, 1)
	if err != nil {
		return err
	}
	return client(c).Prefilter().Remove(c.Context, a)
}
