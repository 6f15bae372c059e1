package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

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
			Name: "port", Usage: "list published ports, like docker port; of every endpoint without one",
			ArgsUsage: "[ENDPOINT [PRIVATE_PORT[/PROTO]]]", Flags: []cli.Flag{jsonFlag}, Action: ports,
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

// ports lists publications as docker port does: of an endpoint, with
// each container port, or of one container port, the host addresses
// alone; of every endpoint, with the endpoint in front.
func ports(c *cli.Context) error {
	a, err := maxArgs(c, 2)
	if err != nil {
		return err
	}
	out, err := client(c).Ports(c.Context, c.Args().First())
	if err != nil {
		return err
	}
	if len(a) < 2 {
		if c.Bool("json") {
			return printJSON(out)
		}
		printPorts(out, len(a) == 0)
		return nil
	}
	port, proto, err := privatePort(a[1])
	if err != nil {
		return err
	}
	out = slices.DeleteFunc(out, func(p api.Port) bool { return p.ContainerPort != port || p.Proto != proto })
	if len(out) == 0 {
		return fmt.Errorf("no public port '%s' published for %s", a[1], a[0])
	}
	if c.Bool("json") {
		return printJSON(out)
	}
	for _, p := range out {
		fmt.Println(net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort))))
	}
	return nil
}

// privatePort reads docker port's PRIVATE_PORT[/PROTO]; tcp by default.
func privatePort(s string) (uint16, string, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	p, err := strconv.ParseUint(num, 10, 16)
	if err != nil || p == 0 || (proto != "tcp" && proto != "udp") {
		return 0, "", fmt.Errorf("invalid port %q: want PRIVATE_PORT[/PROTO], a port of 1-65535 and tcp or udp", s)
	}
	return uint16(p), proto, nil
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
