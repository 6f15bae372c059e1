// Command ebpfnet is the CLI and the daemon: Docker-style bridge networking
// with eBPF doing the forwarding.
package main

import (
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/daemon"
)

// init keeps the main thread for the main goroutine alone. The daemon
// enters endpoint namespaces on threads of their own (netdev), which the
// runtime destroys after, but it cannot destroy the main thread: one left
// there would show the daemon (/proc/PID/ns/net, ss -p, lsns) in an
// endpoint's namespace.
func init() { runtime.LockOSThread() }

func main() {
	a := app()
	os.Exit(report(os.Stderr, a.Run(interspersed(a, os.Args))))
}

func app() *cli.App {
	a := &cli.App{
		Name:    "ebpfnet",
		Usage:   "container networking with eBPF: bridges, endpoints, masquerade, published ports",
		Version: daemon.Version,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Value: api.DefaultSocket, EnvVars: []string{"EBPFNET_SOCKET"}, Usage: "the daemon's API socket"},
		},
		Commands: append([]*cli.Command{
			daemonCommand(),
			systemCommand(),
			statusCommand(),
			networkCommand(),
			endpointCommand(),
			bpfCommand(),
			dnsCommand(),
			monitorCommand(),
			prefilterCommand(),
			cniCommand(),
		}, publishCommands()...),
		// Values are taken whole, as Docker takes them: --network
		// name=web,ip=... is one network.
		DisableSliceFlagSeparator: true,
		Action:                    groupAction,
		OnUsageError:              flagError,
		// main reports every error and picks the exit code.
		ExitErrHandler: func(*cli.Context, error) {},
	}
	setUsageHandlers(a.Commands)
	return a
}

func client(c *cli.Context) *api.Client {
	return api.NewClient(c.String("socket"))
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}
