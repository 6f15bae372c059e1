package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// ebpfnetSide is the real daemon in its world, driven through its CLI as a
// user would.
type ebpfnetSide struct {
	h       *harness
	w       *world.World
	a, b, s string // endpoint names, also their netns names
	ip      map[string]netip.Addr
	// published is nil when B's ports are published, else why not.
	published error
	specs     []string // the scale endpoint's publications
}

func newEbpfnet(ctx context.Context, h *harness) (side, error) {
	e := &ebpfnetSide{h: h, ip: map[string]netip.Addr{}}
	var err error
	if e.w, err = h.newWorld(true); err != nil {
		return nil, err
	}
	e.a, e.b, e.s = e.w.Name("a"), e.w.Name("b"), e.w.Name("s")
	if _, err := e.cli(ctx, "network", "create", "bench", "--subnet", subnet); err != nil {
		return nil, err
	}
	for _, name := range []string{e.a, e.b, e.s} {
		ip, err := e.createEndpoint(ctx, name)
		if err != nil {
			return nil, err
		}
		e.ip[name] = ip
	}
	if err := h.serve(e.b, true); err != nil {
		return nil, err
	}
	if err := h.serve(e.s, false); err != nil {
		return nil, err
	}
	if err := h.serve(e.w.Ext, true); err != nil {
		return nil, err
	}
	if err := h.tune(e.a, e.w.Ext, e.w.Node); err != nil {
		return nil, err
	}
	_, e.published = e.cli(ctx, "publish", e.b,
		fmt.Sprintf("%d:%d", hostStream, streamPort),
		fmt.Sprintf("%d:%d", hostLoad, loadPort),
		fmt.Sprintf("%d:%d/udp", hostLoad, loadPort))
	return e, nil
}

func (e *ebpfnetSide) Name() string { return report.Ebpfnet }

// cli runs ebpfnet in the node against the world's daemon. A command this
// build does not know (publish before issue 4) is a notAvailable error.
func (e *ebpfnetSide) cli(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{e.w.Bin, "--socket", e.w.Socket}, args...)
	out, err := output(nsCmd(ctx, e.w.Node, argv...))
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && (strings.Contains(ce.stderr, "ebpfnet: unknown command: ") ||
			strings.Contains(ce.stderr, "No help topic for")) {
			return "", na("`ebpfnet %s` is not in this build (%s)", args[0], strings.SplitN(strings.TrimSpace(ce.stderr), "\n", 2)[0])
		}
		msg := strings.TrimPrefix(strings.TrimPrefix(message(err), "ebpfnet: "), "Error response from daemon: ")
		return "", fmt.Errorf("ebpfnet %s: %s", args[0], msg)
	}
	return string(out), nil
}

func (e *ebpfnetSide) createEndpoint(ctx context.Context, name string) (netip.Addr, error) {
	if _, err := e.cli(ctx, "endpoint", "create", name, "--network", "bench"); err != nil {
		return netip.Addr{}, err
	}
	out, err := e.cli(ctx, "endpoint", "inspect", name)
	if err != nil {
		return netip.Addr{}, err
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps) != 1 || len(eps[0].Interfaces) == 0 {
		return netip.Addr{}, fmt.Errorf("endpoint inspect %s: no interface in %q", name, out)
	}
	return netip.ParseAddr(eps[0].Interfaces[0].IP)
}

func (e *ebpfnetSide) Target(path string) (Target, error) {
	if path != "e2e" && path != "masq" && e.published != nil {
		return Target{}, e.published
	}
	return worldTarget(e.w, e.a, e.ip[e.b], path)
}

// Publish is one `ebpfnet publish` of a range spec for the fillers and one
// spec for the measured port.
func (e *ebpfnetSide) Publish(ctx context.Context, n int) (Target, time.Duration, error) {
	e.specs = nil
	if n > 1 {
		last := fillerBase + n - 2
		e.specs = append(e.specs, fmt.Sprintf("%d-%d:%d-%d", fillerBase, last, fillerBase, last))
	}
	e.specs = append(e.specs, fmt.Sprintf("%d:%d", scalePort, loadPort))
	start := time.Now()
	if _, err := e.cli(ctx, append([]string{"publish", e.s}, e.specs...)...); err != nil {
		e.specs = nil
		return Target{}, 0, err
	}
	return targetAt(e.w.Ext, world.NodeIP, scalePort, 0), time.Since(start), nil
}

func (e *ebpfnetSide) Unpublish(ctx context.Context) error {
	if len(e.specs) == 0 {
		return nil
	}
	_, err := e.cli(ctx, append([]string{"unpublish", e.s}, e.specs...)...)
	e.specs = nil
	return err
}

// Endpoints is n `ebpfnet endpoint create`, then one `endpoint rm` of all.
func (e *ebpfnetSide) Endpoints(ctx context.Context, n int) (create, remove time.Duration, err error) {
	var names []string
	start := time.Now()
	for i := range n {
		name := e.w.Name("e" + strconv.Itoa(i))
		if _, err = e.cli(ctx, "endpoint", "create", name, "--network", "bench"); err != nil {
			break
		}
		names = append(names, name)
	}
	create = time.Since(start)
	if len(names) == 0 {
		return 0, 0, err
	}
	start = time.Now()
	_, rmErr := e.cli(ctx, append([]string{"endpoint", "rm"}, names...)...)
	if err != nil {
		return 0, 0, err
	}
	return create, time.Since(start), rmErr
}

func (e *ebpfnetSide) RSS(ctx context.Context) (uint64, error) {
	out, err := e.cli(ctx, "status", "--json")
	if err != nil {
		return 0, err
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return 0, fmt.Errorf("parse status: %w", err)
	}
	return vmRSS(st.PID)
}

// vmRSS reads a process's resident memory from /proc.
func vmRSS(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
