package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/daemon"
)

const logFile = "daemon.log"

func daemonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "uplink", Usage: "device to the outside (default: the device of the default route)"},
		&cli.StringFlag{Name: "state-dir", Value: daemon.DefaultStateDir, Usage: "where the state file lives"},
		&cli.StringFlag{Name: "bpffs", Value: daemon.DefaultBPFFS, Usage: "where maps and links are pinned"},
		&cli.StringFlag{Name: "default-subnet", Usage: "subnet of the default network (default: a free 172.17-31.0.0/16)"},
		&cli.StringFlag{Name: "attach", Value: "auto", Usage: "how programs attach: auto (tcx, but tc filters on endpoint veths), tcx or tc"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		&cli.UintFlag{Name: "ct-max", Value: daemon.DefaultCTMax, Usage: "conntrack entries (enet_ct, LRU)"},
		&cli.UintFlag{Name: "nat-max", Value: daemon.DefaultNATMax, Usage: "NAT entries (enet_nat, LRU; two per flow)"},
		&cli.StringFlag{Name: "snat-ports", Value: fmt.Sprintf("%d-%d", daemon.DefaultPortMin, daemon.DefaultPortMax),
			Usage: "range for masquerade source ports that cannot be kept"},
		&cli.StringFlag{Name: "cgroup", Usage: "cgroup v2 dir whose processes get the socket rewrite for published ports (default: the cgroup2 root)"},
		&cli.DurationFlag{Name: "gc-interval", Value: daemon.DefaultGCInterval, Usage: "how often expired flows are removed"},
		&cli.StringSliceFlag{Name: "ct-timeout", Usage: "a conntrack timeout, NAME=DURATION, repeatable; NAME as netfilter's " +
			"nf_conntrack_*_timeout_* sysctls, default theirs: " + strings.Join(daemon.CTTimeoutNames(), ", ")},
		&cli.BoolFlag{Name: "docker-plugin", Usage: "also serve Docker's network driver protocol: docker network create -d ebpfnet"},
		&cli.StringFlag{Name: "docker-plugin-socket", Value: daemon.DefaultDockerPlugin,
			Usage: "the driver's socket; dockerd finds NAME.sock in /run/docker/plugins as driver NAME"},
		&cli.StringSliceFlag{Name: "dns", Usage: "an upstream resolver, IP[:PORT], repeatable: the networks' resolvers " +
			"forward the names they do not hold there (default: the nameservers of --resolv-conf, loopback ones left out)"},
		&cli.StringFlag{Name: "resolv-conf", Value: daemon.DefaultResolvConf, Usage: "where the node's upstream resolvers are read"},
		&cli.StringFlag{Name: "xdp", Value: "off", Usage: "enet_xdp_up's early drops on the uplink (off by default until measured, docs/datapath.md): auto (native where " +
			"the driver has it, else generic), native, generic or off"},
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics at /metrics on HOST:PORT (e.g. 127.0.0.1:9108) " +
			"or unix:PATH (default: nowhere)"},
		&cli.BoolFlag{Name: "foreground", Usage: "stay in the foreground and log to stderr"},
	}
}

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "start or stop the daemon",
		Subcommands: []*cli.Command{
			{Name: "start", Usage: "start the daemon in this network namespace", Flags: daemonFlags(), Action: daemonStart},
			{Name: "stop", Usage: "stop the daemon; the datapath keeps forwarding", Action: daemonStop},
		},
	}
}

func daemonConfig(c *cli.Context) (daemon.Config, error) {
	mode, err := daemon.ParseAttach(c.String("attach"))
	if err != nil {
		return daemon.Config{}, err
	}
	lo, hi, err := parsePortRange(c.String("snat-ports"))
	if err != nil {
		return daemon.Config{}, err
	}
	if c.Uint("ct-max") < 1 || c.Uint("nat-max") < 2 || c.Uint("ct-max") > 1<<26 || c.Uint("nat-max") > 1<<27 {
		return daemon.Config{}, fmt.Errorf("--ct-max and --nat-max are out of range")
	}
	if c.Duration("gc-interval") < time.Second {
		return daemon.Config{}, fmt.Errorf("--gc-interval must be at least 1s")
	}
	timeouts, err := daemon.ParseCTTimeouts(c.StringSlice("ct-timeout"))
	if err != nil {
		return daemon.Config{}, err
	}
	dns, err := parseUpstreams(c.StringSlice("dns"))
	if err != nil {
		return daemon.Config{}, err
	}
	xdp, err := daemon.ParseXDP(c.String("xdp"))
	if err != nil {
		return daemon.Config{}, err
	}
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	plugin := ""
	if c.Bool("docker-plugin") {
		plugin = abs(c.String("docker-plugin-socket"))
	}
	return daemon.Config{
		DockerPlugin:  plugin,
		StateDir:      abs(c.String("state-dir")),
		BPFFS:         abs(c.String("bpffs")),
		Socket:        abs(c.String("socket")),
		Uplink:        c.String("uplink"),
		DefaultSubnet: c.String("default-subnet"),
		Attach:        mode,
		CTMax:         uint32(c.Uint("ct-max")),
		NATMax:        uint32(c.Uint("nat-max")),
		PortMin:       lo,
		PortMax:       hi,
		GCInterval:    c.Duration("gc-interval"),
		Cgroup:        c.String("cgroup"),
		CTTimeouts:    timeouts,
		DNS:           dns,
		ResolvConf:    abs(c.String("resolv-conf")),
		Metrics:       c.String("metrics"),
		XDP:           xdp,
	}, nil
}

func daemonStart(c *cli.Context) error {
	cfg, err := daemonConfig(c)
	if err != nil {
		return err
	}
	// Checked here: a daemon that cannot build its logger cannot say why.
	level, err := zapcore.ParseLevel(c.String("log-level"))
	if err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	if !c.Bool("foreground") {
		return spawnDaemon(c, cfg)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.DisableStacktrace = true
	log, err := zc.Build()
	if err != nil {
		return err
	}
	defer log.Sync()
	cfg.Log = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, cfg); err != nil {
		log.Error("daemon failed", zap.Error(err))
		return err
	}
	return nil
}

// spawnDaemon starts `daemon start --foreground` detached, logging to the
// state dir, and returns once it answers or has failed.
func spawnDaemon(c *cli.Context, cfg daemon.Config) error {
	if st, err := api.NewClient(cfg.Socket).Status(c.Context); err == nil {
		return fmt.Errorf("another ebpfnet daemon (pid %d) already answers on %s", st.PID, cfg.Socket)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(cfg.StateDir, logFile)
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	defer out.Close()
	logStart, _ := out.Seek(0, io.SeekEnd)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer null.Close()
	args := append([]string{exe}, os.Args[1:]...)
	proc, err := os.StartProcess(exe, append(args, "--foreground"), &os.ProcAttr{
		Files: []*os.File{null, out, out},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("start daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { _, err := proc.Wait(); exited <- err }()
	cl := api.NewClient(cfg.Socket)
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("wait for the daemon: %w", err)
			}
			return fmt.Errorf("the daemon exited during start: %s (log: %s)", startError(logPath, logStart), logPath)
		case <-deadline:
			return fmt.Errorf("the daemon (pid %d) did not answer on %s within 2 minutes; see %s", proc.Pid, cfg.Socket, logPath)
		case <-time.After(50 * time.Millisecond):
		}
		if st, err := cl.Status(c.Context); err == nil && st.PID == proc.Pid {
			fmt.Printf("ebpfnet daemon started (pid %d), socket %s, log %s\n", proc.Pid, cfg.Socket, logPath)
			return nil
		}
	}
}

// startError finds why a spawned daemon failed in what it logged.
func startError(path string, from int64) string {
	raw, err := os.ReadFile(path)
	if err != nil || int64(len(raw)) < from {
		return "unknown error"
	}
	msg := "unknown error"
	for _, line := range strings.Split(string(raw[from:]), "\n") {
		var rec struct{ Level, Error string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "error" && rec.Error != "" {
			msg = rec.Error
		}
	}
	return msg
}

func daemonStop(c *cli.Context) error {
	cl := client(c)
	st, err := cl.Status(c.Context)
	if err != nil {
		return err
	}
	if err := cl.Stop(c.Context); err != nil {
		return err
	}
	if err := waitGone(c.String("socket"), st.PID, 30*time.Second); err != nil {
		return err
	}
	fmt.Printf("ebpfnet daemon (pid %d) stopped; the datapath keeps forwarding\n", st.PID)
	return nil
}

// waitGone waits until the daemon has removed its socket, its last act,
// and its process has exited, so a caller that goes on finds it gone.
func waitGone(socket string, pid int, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if _, err := os.Stat(socket); errors.Is(err, os.ErrNotExist) && exited(pid) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the daemon (pid %d) still runs or holds %s after %s", pid, socket, timeout)
}

// exited says whether a process is gone or a zombie its new parent has
// yet to reap.
func exited(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and may
	// hold anything.
	_, rest, ok := strings.Cut(string(raw[bytes.LastIndexByte(raw, ')')+1:]), " ")
	return ok && (strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X"))
}

// parsePortRange reads LO-HI, 1 <= LO <= HI <= 65535.
func parsePortRange(s string) (uint16, uint16, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.ParseUint(a, 10, 16)
	hi, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || lo == 0 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q: want LO-HI with 1 <= LO <= HI <= 65535", s)
	}
	return uint16(lo), uint16(hi), nil
}
