package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func publishCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "publish", Usage: "publish ports of an endpoint, with docker's -p syntax",
			ArgsUsage: "ENDPOINT [IP:][HOSTPORT[-END]:]PORT[-END][/tcp|/udp]...",
			Action:    publish,
		},
		{
			Name: "unpublish", Usage: "remove publications of an endpoint (and the flows through them)",
			ArgsUsage: "ENDPOINT SPEC...",
			Action:    unpublish,
		},
		{
			Name: "port", Usage: "list published ports, like docker port", ArgsUsage: "[ENDPOINT]",
			Flags: []cli.Flag{jsonFlag}, Action: ports,
		},
	}
}

func endpointAndSpecs(c *cli.Context) (string, []string, error) {
	a, err := minArgs(c, 2)
	if err != nil {
		return "", nil, err
	}
	return a[0], a[1:], nil
}

func publish(c *cli.Context) error {
	ep, specs, err := endpointAndSpecs(c)
	if err != nil {
		return err
	}
	out, err := client(c).Publish(c.Context, ep, specs)
	if err != nil {
		return err
	}
	printPorts(out, false)
	return nil
}

func unpublish(c *cli.Context) error {
	ep, specs, err := endpointAndSpecs(c)
	if err != nil {
		return err
	}
	out, err := client(c).Unpublish(c.Context, ep, specs)
	if err != nil {
		return err
	}
	printPorts(out, false)
	return nil
}

func ports(c *cli.Context) error {
	if _, err := maxArgs(c, 1); err != nil {
		return err
	}
	out, err := client(c).Ports(c.Context, c.Args().First())
	if err != nil || c.Bool("json") {
		return orJSON(out, err)
	}
	printPorts(out, c.NArg() == 0)
	return nil
}

// printPorts prints as `docker port` does, with the endpoint in front when
// several endpoints are listed.
func printPorts(ps []api.Port, withEndpoint bool) {
	for _, p := range ps {
		line := fmt.Sprintf("%d/%s -> %s:%d", p.ContainerPort, p.Proto, p.HostIP, p.HostPort)
		if withEndpoint {
			line = p.Endpoint + " " + line
		}
		fmt.Println(line)
	}
}
