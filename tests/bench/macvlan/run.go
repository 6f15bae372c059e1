package macvlan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// group is the table's one group: every sample is of it.
const group = "macvlan"

// Run builds the worlds, measures every side in interleaved rounds and
// tears everything down. A side that cannot be set up has samples saying
// why; Run fails only when no side could be measured or the teardown
// failed.
func Run(ctx context.Context, o Options) (r *report.Run, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	r = &report.Run{Machine: report.ThisMachine(), Command: o.Command, Method: method(o), Started: time.Now(),
		Groups: []report.Group{{Key: group, Title: "macvlan endpoints to a LAN host against a raw veth"}}}
	if err := o.validate(); err != nil {
		return r, err
	}
	if os.Geteuid() != 0 {
		return r, errors.New("needs root: it builds network namespaces")
	}
	for _, tool := range []string{"iperf3", "sockperf", "ip", "ss", "ping", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return r, fmt.Errorf("%s: %w (make deps)", tool, err)
		}
	}
	t := &world.RunT{}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("teardown: %w\n%s", cerr, t.Logged()))
		}
		r.Finished = time.Now()
	}()
	if o.Bin == "" && slices.ContainsFunc(o.Sides, func(s string) bool { return s == LAN || s == Uplink }) {
		// Built into a temp dir of its own, removed last of all: the
		// world's teardown runs its system reset.
		o.Bin, err = world.Binary()
		if o.Bin != "" { // its dir, even when the build failed
			bin := o.Bin
			t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
		}
		if err != nil {
			return r, err
		}
	}
	e := &env{t: t, o: o, targets: map[string]target{}, why: map[string]error{}, versions: map[string]string{}}
	fmt.Fprintf(o.Log, "setting up %s ...\n", strings.Join(o.Sides, ", "))
	if err := e.setup(ctx); err != nil {
		return r, err
	}
	r.Notes = notes(e)
	for _, s := range o.Sides {
		if e.why[s] != nil {
			recordAll(r, s, e.why[s])
		}
	}
	if len(e.targets) == 0 {
		return r, errors.New("no side could be set up")
	}
	return r, e.rounds(ctx, r)
}

// rounds runs every load on every side set up, the order of the sides
// reversed every other round so that none always goes first.
func (e *env) rounds(ctx context.Context, r *report.Run) error {
	var sides []string
	for _, s := range e.o.Sides {
		if _, ok := e.targets[s]; ok {
			sides = append(sides, s)
		}
	}
	for round := range e.o.Rounds {
		for _, load := range loads {
			order := slices.Clone(sides)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			e.runLoad(ctx, r, order, load, round+1)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// runLoad runs a load on the sides one after the other, or, with
// Options.Parallel, all at once, and records the figures.
func (e *env) runLoad(ctx context.Context, r *report.Run, sides []string, load string, round int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range sides {
		do := func() {
			vals, err := measure(ctx, e.targets[s], load, e.o.Duration)
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			record(r, s, load, round, vals, err)
			fmt.Fprintf(e.o.Log, "round %d %s %s: %s\n", round, s, load, figures(load, vals, err))
		}
		if !e.o.Parallel {
			do()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			do()
		}()
	}
	wg.Wait()
}

// record adds a load's figures, or why there are none, for a side.
func record(r *report.Run, side, load string, round int, vals []float64, err error) {
	for i, m := range metricsOf(load) {
		s := report.Sample{Side: side, Group: group, Metric: m.name, Unit: m.unit, Higher: m.higher, Round: round}
		switch {
		case err == nil:
			v := vals[i]
			s.Value = &v
		case isNA(err):
			s.NA = err.Error()
		default:
			s.Error = err.Error()
		}
		r.Samples = append(r.Samples, s)
	}
}

// recordAll records every metric of a side that could not be set up.
func recordAll(r *report.Run, side string, why error) {
	for _, load := range loads {
		record(r, side, load, 0, nil, why)
	}
}

func figures(load string, vals []float64, err error) string {
	if err != nil {
		return "failed: " + err.Error()
	}
	var parts []string
	for i, m := range metricsOf(load) {
		parts = append(parts, fmt.Sprintf("%s %s %s", m.name, report.Num(vals[i]), m.unit))
	}
	return strings.Join(parts, ", ")
}

func method(o Options) string {
	how := "every load runs on every side in turn, the order reversed every other round"
	if o.Parallel {
		how = "every load runs on all sides at once (a smoke run: its figures compare nothing)"
	}
	return fmt.Sprintf("%d round(s); in each, %s. Each load runs %s. A cell is the median over the rounds (min–max); "+
		"ratios are of medians.", o.Rounds, how, o.Duration)
}

// notes say how each side is built and what the loads are.
func notes(e *env) []string {
	endpoints := "ebpfnet, built from this tree, in the node netns of a world with a LAN (tests/world AddLAN): " +
		"macvlan is `network create lan -d macvlan --subnet 192.0.2.0/24 --gateway 192.0.2.1 -o parent=eth1` and " +
		"`endpoint create NAME --network lan`, the LAN host 192.0.2.100 on br0 in the lan netns; macvlan-up0 is " +
		"`network create uplan -d macvlan --subnet 198.51.100.0/24 --gateway 198.51.100.2 --ip-range 198.51.100.128/25 -o parent=up0` " +
		"and an endpoint on it, to ext (198.51.100.2), through up0 where the daemon's TC programs are attached"
	return []string{
		endpoints + ".",
		"macvlan-up0-bare: a world without ebpfnet (no daemon, no programs), a macvlan device (mode bridge) made with ip(8) on up0 " +
			"moved into a netns of its own as 198.51.100.129/24, to ext: macvlan-up0's path without ebpfnet.",
		"raw veth: a netns of its own, 192.0.2.60/24 on one end of a veth pair whose other end is a port of br0 in the lan netns " +
			"of the macvlan side's world: the same LAN host, no macvlan, no node device, no eBPF.",
		fmt.Sprintf("Loads, each from the side's netns to its LAN host: tcp-stream is one iperf3 TCP stream (-t %d, received rate); "+
			"udp-rr and tcp-rr are `sockperf ping-pong` (UDP, and --tcp) with its default 14-byte messages, one in flight: the rate is "+
			"round trips per second and p50 and p99 are round trips (--full-rtt) over sockperf's valid duration, its first 400 ms "+
			"being warm-up. Versions: %s; %s; %s.", int(e.o.Duration/time.Second),
			e.version("ebpfnet"), commandVersion("iperf3", "--version"), commandVersion("sockperf", "--version")),
		"Every client and server is pinned to CPU 0 (taskset), so each load runs the whole path on one core: unpinned, a round trip " +
			"on this VM took ~15 µs or ~60 µs at random, as the scheduler put client and server on one CPU or two, and the stream's " +
			"rate moved as much. The figures are the path's CPU cost on one core, not what two hosts would see.",
	}
}

func (e *env) version(name string) string {
	if v := e.versions[name]; v != "" {
		return v
	}
	return name + " (not run)"
}

func commandVersion(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return argv[0] + " (version unknown)"
	}
	return strings.TrimSpace(strings.Split(string(out), "\n")[0])
}
