// Command bench measures ebpfnet against its peer, the CNI reference
// plugins (bridge with ipMasq, portmap, host-local: the iptables datapath
// of containerd, Kubernetes and Podman's CNI mode), and against the limit,
// a raw veth pair, each in a world of network namespaces of its own.
//
//	go run ./tests/bench                 # full run, results on the terminal
//	go run ./tests/bench -quick          # smoke run in seconds
//	go run ./tests/bench -paths dnat -scale 1,1000,10000 -rounds 5 -out results/
//	go run ./tests/bench dns -rounds 3 -out results/  # the resolver against aardvark-dns (tests/bench/dns)
//	go run ./tests/bench macvlan -rounds 3 -out results/  # macvlan endpoints against a raw veth (tests/bench/macvlan)
//	go run ./tests/bench dashboard -out docs/  # the Grafana dashboard and its PNG from a run (tests/bench/dashboard)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ebpfnet/ebpfnet/tests/bench/dashboard"
	"github.com/ebpfnet/ebpfnet/tests/bench/dns"
	"github.com/ebpfnet/ebpfnet/tests/bench/macvlan"
)

func main() {
	runSubcommand(os.Args[1:])
	if len(os.Args) > 1 && os.Args[1] == "dns" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := dns.Main(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		exit(err)
	}
	if len(os.Args) > 1 && os.Args[1] == "dashboard" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := dashboard.Command(ctx, os.Args[2:], os.Stderr)
		stop()
		exit(err)
	}
	if len(os.Args) > 1 && os.Args[1] == "macvlan" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := macvlan.Main(ctx, os.Args[2:], os.Stdout, os.Stderr)
		stop()
		exit(err)
	}
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		exit(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exit(run(ctx, opts, os.Stdout, os.Stderr))
}

func exit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
