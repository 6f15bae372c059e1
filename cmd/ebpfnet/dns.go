package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func dnsCommand() *cli.Command {
	return &cli.Command{
		Name:  "dns",
		Usage: "the networks' resolvers: the names they serve and what they did",
		Subcommands: []*cli.Command{
			{Name: "ls", Aliases: []string{"list"}, Usage: "list the records the resolvers serve", ArgsUsage: "[NETWORK]",
				Flags: []cli.Flag{jsonFlag}, Action: dnsList},
			{Name: "stats", Usage: "where the resolvers listen and forward, and their query counters",
				Flags: []cli.Flag{jsonFlag}, Action: dnsStats},
		},
	}
}

func dnsList(c *cli.Context) error {
	a, err := maxArgs(c, 1)
	if err != nil {
		return err
	}
	network := ""
	if len(a) == 1 {
		network = a[0]
	}
	recs, err := client(c).Names().Records(c.Context, network)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(recs)
	}
	t := newTable("NETWORK", "NAME", "TYPE", "VALUE")
	for _, r := range recs {
		t.row(r.Network, r.Name, r.Type, strings.Join(r.Values, ","))
	}
	return t.flush()
}

func dnsStats(c *cli.Context) error {
	if _, err := exactArgs(c, 0); err != nil {
		return err
	}
	s, err := client(c).Names().Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(s)
	}
	fmt.Printf("endpoints' nameserver: %s\nupstreams: %s\n", s.Stub, orDash(strings.Join(s.Upstreams, ", ")))
	t := newTable("NETWORK", "RESOLVER")
	for _, n := range sortedKeys(s.Listening) {
		t.row(n, s.Listening[n])
	}
	if err := t.flush(); err != nil {
		return err
	}
	t = newTable("COUNTER", "QUERIES")
	for _, k := range sortedKeys(s.Counts) {
		t.row(k, strconv.FormatUint(s.Counts[k], 10))
	}
	return t.flush()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// networkAlias sets the names an endpoint answers to on a network.
func networkAlias(c *cli.Context) error {
	a, err := minArgs(c, 2)
	if err != nil {
		return err
	}
	ep, err := client(c).Names().SetAliases(c.Context, a[1], api.Aliases{Network: a[0], Aliases: a[2:]})
	if err != nil {
		return err
	}
	for _, i := range ep.Interfaces {
		if i.Network == a[0] {
			fmt.Printf("%s on %s: %s\n", ep.Name, a[0], orDash(strings.Join(i.Aliases, ", ")))
		}
	}
	return nil
}

// parseUpstreams reads --dns IP[:PORT] values.
func parseUpstreams(specs []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, s := range specs {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53))
			continue
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("--dns %q: want IP or IP:PORT", s)
		}
		out = append(out, ap)
	}
	return out, nil
}
