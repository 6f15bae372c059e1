package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/daemon"
)

func systemCommand() *cli.Command {
	return &cli.Command{
		Name:  "system",
		Usage: "whole-system operations",
		Subcommands: []*cli.Command{{
			Name:  "reset",
			Usage: "remove every namespace, device, program, map and pin ebpfnet created, and its state",
			Description: "With a daemon running, the daemon does it and exits. Without one, it is done " +
				"from the state dir and bpffs dir given here, in the current network namespace.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "state-dir", Value: daemon.DefaultStateDir},
				&cli.StringFlag{Name: "bpffs", Value: daemon.DefaultBPFFS},
			},
			Action: systemReset,
		}},
	}
}

func systemReset(c *cli.Context) error {
	cl := client(c)
	st, err := cl.Status(c.Context)
	if err == nil {
		if err := cl.Reset(c.Context); err != nil {
			return err
		}
		if err := waitGone(c.String("socket"), st.PID, 30*time.Second); err != nil {
			return err
		}
		fmt.Println("ebpfnet reset: everything it created is removed; the daemon has exited")
		return nil
	}
	if !errors.Is(err, api.ErrNoDaemon) {
		return err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	cfg := daemon.Config{
		StateDir: abs(c.String("state-dir")), BPFFS: abs(c.String("bpffs")),
		Socket: abs(c.String("socket")), Log: zap.NewNop(),
	}
	if err := daemon.ResetOffline(cfg); err != nil {
		return err
	}
	fmt.Println("ebpfnet reset: no daemon was running; everything recorded in", cfg.StateDir, "is removed")
	return nil
}
