package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/cni"
	"github.com/ebpfnet/ebpfnet/tests/bench/load"
)

// The harness re-executes itself inside the worlds' namespaces (under
// nsenter) to run these.
var subcommands = map[string]func(ctx context.Context, args []string) error{
	"load-server": loadServer,
	"load-client": loadClient,
	"cni":         cniCommand,
}

// runSubcommand runs args[0] and exits, if it names a sub-command.
func runSubcommand(args []string) {
	if len(args) == 0 || subcommands[args[0]] == nil {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := subcommands[args[0]](ctx, args[1:])
	stop()
	if err != nil {
		// The harness reports the last line a sub-command prints.
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func loadServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load-server", flag.ContinueOnError)
	addr := fs.String("addr", ":7000", "TCP and UDP address to serve")
	size := fs.Int("size", 1, "request and response size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return load.Serve(ctx, *addr, *size)
}

func loadClient(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load-client", flag.ContinueOnError)
	mode := fs.String("mode", "rr", "rr, crr or udp-rr")
	addr := fs.String("addr", "", "server address")
	d := fs.Duration("d", time.Second, "how long to run")
	size := fs.Int("size", 1, "request and response size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := load.ParseMode(*mode)
	if err != nil {
		return err
	}
	res, err := load.Run(ctx, m, *addr, *d, *size)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cniCommand reads a cni.Request on stdin and answers a cni.Response on
// stdout, failing when the request did.
func cniCommand(ctx context.Context, _ []string) error {
	var req cni.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return fmt.Errorf("read cni request: %w", err)
	}
	resp := cni.Do(ctx, req)
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		return err
	}
	if resp.Error != "" {
		return fmt.Errorf("cni %s: %s", req.Op, resp.Error)
	}
	return nil
}
