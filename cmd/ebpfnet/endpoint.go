package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func endpointCommand() *cli.Command {
	return &cli.Command{
		Name:  "endpoint",
		Usage: "manage endpoints: network namespaces with an interface per network",
		Subcommands: []*cli.Command{
			{
				Name: "create", Usage: "create an endpoint (a new /run/netns/NAME, or --netns)", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "network", Usage: "network to join (default: the default network), or none, host, " +
						"container:ENDPOINT (share its namespace); " +
						"again for more, in order: eth0 and the default route on the first, eth1, ... on the others; " +
						"name=NET,ip=IP as docker run takes it"},
					&cli.StringFlag{Name: "ip", Usage: "static address on the first network"},
					&cli.StringFlag{Name: "mac", Aliases: []string{"mac-address"}, Usage: "MAC of the first interface (default: derived from its address)"},
					&cli.StringFlag{Name: "netns", Usage: "adopt this network namespace, e.g. /proc/PID/ns/net"},
					&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port, docker's -p syntax"},
					&cli.StringFlag{Name: "on-gone", Value: "keep", Usage: "when the namespace goes away: keep " +
						"(the endpoint is gone, keeping its addresses and ports until `endpoint attach`) or remove"},
					&cli.StringSliceFlag{Name: "alias", Aliases: []string{"network-alias"}, Usage: "another name on the first network, repeatable"},
					&cli.StringSliceFlag{Name: "dns", Usage: "an upstream resolver of the endpoint's own, repeatable (default: the daemon's)"},
					&cli.StringSliceFlag{Name: "dns-search", Usage: "a search domain of its resolv.conf, repeatable"},
					&cli.StringSliceFlag{Name: "dns-option", Usage: "an option of its resolv.conf, repeatable (default: ndots:0)"},
				},
				Action: endpointCreate,
			},
			{
				Name: "attach", Usage: "give a gone endpoint a namespace again, with its addresses and ports",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "netns", Usage: "adopt this network namespace (default: a new /run/netns/NAME)"},
				},
				Action: endpointAttach,
			},
			{Name: "ls", Aliases: []string{"list"}, Usage: "list endpoints", Flags: []cli.Flag{jsonFlag}, Action: endpointList},
			{Name: "inspect", Usage: "show endpoints as a JSON array", ArgsUsage: "NAME [NAME...]", Flags: inspectFlags(), Action: endpointInspect},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "remove endpoints", ArgsUsage: "NAME [NAME...]", Action: endpointRemove,
				Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"},
					Usage: "also remove the endpoints sharing its namespace (container:NAME)"}}},
		},
	}
}

func endpointCreate(c *cli.Context) error {
	a, err := exactArgs(c, 1)
	if err != nil {
		return err
	}
	nets, err := endpointNetworks(c.StringSlice("network"), c.String("ip"))
	if err != nil {
		return newUsageError(c.Command, exitFlags, "%v", err)
	}
	nets[0].Aliases = append(nets[0].Aliases, c.StringSlice("alias")...)
	req := api.EndpointCreate{Name: a[0], Netns: c.String("netns"), Publish: c.StringSlice("publish"), OnGone: c.String("on-gone"),
		DNS: api.DNSConf{Servers: c.StringSlice("dns"), Search: c.StringSlice("dns-search"), Options: c.StringSlice("dns-option")}}
	if len(nets) > 1 {
		nets[0].MAC = c.String("mac")
		req.Networks = nets
	} else {
		req.Network, req.IP, req.Aliases, req.MAC = nets[0].Name, nets[0].IP, nets[0].Aliases, c.String("mac")
	}
	ep, err := client(c).CreateEndpoint(c.Context, req)
	if err != nil {
		return err
	}
	if ep.Mode != "" {
		fmt.Printf("%s --network %s, netns %s\n", ep.Name, ep.Mode, orDash(ep.Netns))
	}
	for n, i := range ep.Interfaces {
		if n == 0 {
			fmt.Printf("%s %s %s on %s, netns %s\n", ep.Name, i.Name, i.IP, i.Network, ep.Netns)
		} else {
			fmt.Printf("%s %s %s on %s\n", ep.Name, i.Name, i.IP, i.Network)
		}
	}
	printPorts(ep.Ports, false)
	return nil
}

func endpointAttach(c *cli.Context) error {
	a, err := exactArgs(c, 1)
	if err != nil {
		return err
	}
	ep, err := client(c).Attach(c.Context, a[0], api.Attach{Netns: c.String("netns")})
	if err != nil {
		return err
	}
	fmt.Printf("%s attached to netns %s\n", ep.Name, ep.Netns)
	return nil
}

func endpointList(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	eps, err := client(c).Endpoints(c.Context)
	if err != nil || c.Bool("json") {
		return orJSON(eps, err)
	}
	t := newTable("NAME", "INTERFACES", "NETNS", "STATE", "PORTS")
	for _, e := range eps {
		var ifs, ports []string
		for _, i := range e.Interfaces {
			ifs = append(ifs, fmt.Sprintf("%s=%s(%s)", i.Name, i.IP, i.Network))
		}
		// As docker ps shows them.
		for _, p := range e.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Proto))
		}
		netns := e.Netns
		if e.Mode == "host" {
			netns = "(the node's)"
		}
		t.row(e.Name, orDash(strings.Join(ifs, ",")), orDash(netns), e.State, orDash(strings.Join(ports, ",")))
	}
	return t.flush()
}

// endpointRemove removes each endpoint named, going on past one it
// cannot, as docker rm does.
func endpointRemove(c *cli.Context) error {
	names, err := minArgs(c, 1)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if c.Bool("force") {
			rm, err := client(c).ForceRemoveEndpoint(c.Context, name)
			for _, s := range rm.Sharers {
				fmt.Printf("%s (it shared %s's namespace, and lost it)\n", s, name)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
		} else if err := client(c).RemoveEndpoint(c.Context, name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Println(name)
	}
	return errors.Join(errs...)
}

// orJSON prints v as JSON unless err is set.
func orJSON(v any, err error) error {
	if err != nil {
		return err
	}
	return printJSON(v)
}
