package main

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// limitSide is a raw veth pair between two namespaces of its world: no
// bridge, no NAT, no eBPF. Every path is the pair, client to server.
type limitSide struct {
	target Target
}

var (
	limitA = netip.MustParseAddr("10.10.0.2")
	limitB = netip.MustParseAddr("10.10.0.3")
)

func newLimit(_ context.Context, h *harness) (side, error) {
	w, err := h.newWorld(false)
	if err != nil {
		return nil, err
	}
	a, b := w.Name("a"), w.Name("b")
	steps := [][]string{
		{"netns", "add", a},
		{"netns", "add", b},
		{"link", "add", "eth0", "netns", a, "type", "veth", "peer", "name", "eth0", "netns", b},
		{"-n", a, "addr", "add", limitA.String() + "/24", "dev", "eth0"},
		{"-n", b, "addr", "add", limitB.String() + "/24", "dev", "eth0"},
	}
	for _, ns := range []string{a, b} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"}, []string{"-n", ns, "link", "set", "eth0", "up"})
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	if err := h.serve(b, true); err != nil {
		return nil, err
	}
	return &limitSide{target: targetAt(a, limitB, loadPort, streamPort)}, h.tune(a)
}

func (l *limitSide) Name() string { return report.Limit }

func (l *limitSide) Target(string) (Target, error) { return l.target, nil }

func (l *limitSide) Publish(context.Context, int) (Target, time.Duration, error) {
	return l.target, 0, na("nothing to publish: its CRR is the pair, client to server")
}

func (l *limitSide) Unpublish(context.Context) error { return nil }

func (l *limitSide) Endpoints(context.Context, int) endpointTimes {
	return endpointTimes{err: na("no control plane"), cniErr: na("no control plane")}
}

func (l *limitSide) RSS(context.Context) (uint64, error) { return 0, na("no control plane") }
