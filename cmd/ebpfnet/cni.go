package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

func cniCommand() *cli.Command {
	return &cli.Command{
		Name:  "cni",
		Usage: "the CNI plugin (ebpfnet-cni) for Podman, containerd and other CNI runtimes",
		Subcommands: []*cli.Command{{
			Name:      "config",
			Usage:     "print a conflist that attaches containers to NETWORK through ebpfnet-cni",
			ArgsUsage: "NETWORK",
			Description: "Write it to the runtime's CNI config dir (/etc/cni/net.d/30-NETWORK.conflist) and put " +
				"ebpfnet-cni in its plugin dir (/opt/cni/bin). It names this daemon's socket, and asks for the " +
				"portMappings, ips, mac, dns and aliases capabilities. cniVersion is 1.0.0, with cniVersions [1.0.0, 1.1.0]: " +
				"runtimes that know 1.1.0 (STATUS, GC) take it, Podman 4.3 refuses a conflist of 1.1.0 alone. " +
				"To chain plugins that stop at 1.0.0 (Debian's containernetworking-plugins 1.1.1 do), pass " +
				"--cni-version 1.0.0: libcni would otherwise run the whole chain at 1.1.0.",
			Flags:  []cli.Flag{&cli.StringFlag{Name: "cni-version", Usage: "write this one cniVersion instead of 1.0.0 with cniVersions [1.0.0, 1.1.0]"}},
			Action: cniConfig,
		}},
	}
}

// conflist is what `cni config` prints.
type conflist struct {
	CNIVersion  string      `json:"cniVersion"`
	CNIVersions []string    `json:"cniVersions,omitempty"`
	Name        string      `json:"name"`
	Plugins     []cniPlugin `json:"plugins"`
}

type cniPlugin struct {
	Type         string          `json:"type"`
	Network      string          `json:"network"`
	Socket       string          `json:"socket"`
	Capabilities map[string]bool `json:"capabilities"`
}

func cniConfig(c *cli.Context) error {
	args, err := exactArgs(c, 1)
	if err != nil {
		return err
	}
	name := args[0]
	if _, err := client(c).Network(c.Context, name); err != nil {
		return err
	}
	socket, err := filepath.Abs(c.String("socket"))
	if err != nil {
		return err
	}
	list := conflist{CNIVersion: "1.0.0", CNIVersions: []string{"1.0.0", "1.1.0"}}
	switch v := c.String("cni-version"); v {
	case "":
	case "0.3.1", "0.4.0", "1.0.0", "1.1.0":
		list.CNIVersion, list.CNIVersions = v, nil
	default:
		return fmt.Errorf("--cni-version %.16q: ebpfnet-cni speaks 0.3.1, 0.4.0, 1.0.0 and 1.1.0", v)
	}
	out, err := json.MarshalIndent(conflist{
		CNIVersion: list.CNIVersion, CNIVersions: list.CNIVersions, Name: name,
		Plugins: []cniPlugin{{Type: "ebpfnet-cni", Network: name, Socket: socket,
			Capabilities: map[string]bool{"portMappings": true, "ips": true, "mac": true, "dns": true, "aliases": true}}},
	}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}
