package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "manage networks: bridge (the eBPF datapath), macvlan and ipvlan",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create a network", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "bridge, macvlan or ipvlan"},
					&cli.StringFlag{Name: "subnet", Usage: "IPv4 CIDR (default: a free 172.17-31.0.0/16 or 192.168.x.0/20)"},
					&cli.StringFlag{Name: "gateway", Usage: "gateway address (default: the subnet's first)"},
					&cli.StringFlag{Name: "ip-range", Usage: "allocate endpoint addresses from this sub-range"},
					&cli.BoolFlag{Name: "internal", Usage: "no path out of the subnet"},
					&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "bridge: icc=false, masquerade=false (Docker's " +
						"com.docker.network.* keys too); macvlan: parent=IF[.VLAN], macvlan_mode=bridge|private|vepa|passthru; " +
						"ipvlan: parent=IF[.VLAN], ipvlan_mode=l2|l3|l3s"},
					&cli.StringSliceFlag{Name: "aux-address", Usage: "NAME=IP: an address IPAM must not hand out, repeatable"},
					&cli.IntFlag{Name: "mtu", Usage: "MTU of the bridge and veths (default: the uplink's)"},
					&cli.StringFlag{Name: "bridge", Usage: "bridge device name (default: enet-<id>)"},
				},
				Action: networkCreate,
			},
			networkListCommand(),
			{Name: "inspect", Usage: "show networks as a JSON array", ArgsUsage: "NAME [NAME...]", Flags: inspectFlags(), Action: networkInspect},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "remove networks without endpoints", ArgsUsage: "NAME [NAME...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "no error for a network that does not exist"}},
				Action: networkRemove,
			},
			{
				Name: "prune", Usage: "remove every network without endpoints but the default one",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"}},
				Action: networkPrune,
			},
			{
				Name: "connect", Usage: "give an endpoint an interface on a network", ArgsUsage: "NETWORK ENDPOINT",
				Flags: []cli.Flag{&cli.StringFlag{Name: "ip", Usage: "static address"},
					&cli.StringSliceFlag{Name: "alias", Usage: "another name on this network, repeatable"}},
				Action: networkConnect,
			},
			{Name: "disconnect", Usage: "remove an endpoint's interface on a network", ArgsUsage: "NETWORK ENDPOINT", Action: networkDisconnect},
			{Name: "alias", Usage: "set the names an endpoint answers to on a network, beside its own (none: clear them)",
				ArgsUsage: "NETWORK ENDPOINT [ALIAS...]", Action: networkAlias},
		},
	}
}

func parseOpts(opts []string) (map[string]string, error) {
	out := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("option %q: want key=value", o)
		}
		out[k] = v
	}
	return out, nil
}

func networkCreate(c *cli.Context) error {
	a, err := exactArgs(c, 1)
	if err != nil {
		return err
	}
	opts, err := parseOpts(c.StringSlice("opt"))
	if err != nil {
		return err
	}
	aux, err := parseOpts(c.StringSlice("aux-address"))
	if err != nil {
		return newUsageError(c.Command, exitFlags, "--aux-address: %v", err)
	}
	n, err := client(c).CreateNetwork(c.Context, api.NetworkCreate{
		Name: a[0], Subnet: c.String("subnet"), Gateway: c.String("gateway"), IPRange: c.String("ip-range"),
		Internal: c.Bool("internal"), MTU: c.Int("mtu"), Bridge: c.String("bridge"), Options: opts,
		Driver: c.String("driver"), AuxAddresses: aux,
	})
	if err != nil {
		return err
	}
	if n.Parent != "" {
		fmt.Printf("%s %s gateway %s %s on %s mode %s\n", n.Name, n.Subnet, n.Gateway, n.Driver, n.Parent, n.Mode)
		return nil
	}
	fmt.Printf("%s %s gateway %s bridge %s\n", n.Name, n.Subnet, n.Gateway, n.Bridge)
	return nil
}

// networkRemove removes each network named, going on past one it cannot,
// as Docker does; --force takes a network that does not exist as removed.
func networkRemove(c *cli.Context) error {
	names, err := minArgs(c, 1)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		err := client(c).RemoveNetwork(c.Context, name)
		switch {
		case err == nil:
			fmt.Println(name)
		case c.Bool("force") && api.Code(err) == http.StatusNotFound:
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pruneWarning is Docker's, with endpoints for containers.
const pruneWarning = `WARNING! This will remove all custom networks not used by at least one endpoint.
Are you sure you want to continue?`

// networkPrune removes the networks without endpoints, after asking as
// `docker network prune` does, unless --force.
func networkPrune(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if !c.Bool("force") && !confirm(os.Stdin, os.Stdout, pruneWarning) {
		return errCancelled
	}
	rep, err := client(c).PruneNetworks(c.Context)
	if err != nil {
		return err
	}
	if len(rep.NetworksDeleted) > 0 {
		fmt.Println("Deleted Networks:")
		for _, name := range rep.NetworksDeleted {
			fmt.Println(name)
		}
		fmt.Println()
	}
	return nil
}

// confirm asks a question and reads the answer from in: "y" or "Y" is
// yes, anything else, or nothing, no.
func confirm(in io.Reader, out io.Writer, question string) bool {
	_, _ = fmt.Fprint(out, question+" [y/N] ")
	sc := bufio.NewScanner(in)
	return sc.Scan() && strings.EqualFold(strings.TrimSpace(sc.Text()), "y")
}

func networkConnect(c *cli.Context) error {
	a, err := exactArgs(c, 2)
	if err != nil {
		return err
	}
	ep, err := client(c).Connect(c.Context, a[0], api.Connect{Endpoint: a[1], IP: c.String("ip"), Aliases: c.StringSlice("alias")})
	if err != nil {
		return err
	}
	for _, i := range ep.Interfaces {
		if i.Network == a[0] {
			fmt.Printf("%s %s %s on %s\n", ep.Name, i.Name, i.IP, a[0])
		}
	}
	return nil
}

func networkDisconnect(c *cli.Context) error {
	a, err := exactArgs(c, 2)
	if err != nil {
		return err
	}
	if _, err := client(c).Disconnect(c.Context, a[0], api.Connect{Endpoint: a[1]}); err != nil {
		return err
	}
	fmt.Printf("%s disconnected from %s\n", a[1], a[0])
	return nil
}
