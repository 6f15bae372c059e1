package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// subnet is the endpoints' network on every side.
const subnet = "10.10.0.0/24"

type harness struct {
	opts    Options
	t       *world.RunT
	self    string // this executable, re-run inside namespaces
	bin     string // the ebpfnet binary
	sides   []*sideRun
	samples []report.Sample
	log     io.Writer
}

// sideRun is a side and what became of its setup and paths.
type sideRun struct {
	name     string
	s        side  // nil when setup failed
	setupErr error // why
	targets  map[string]targetOrWhy
}

type targetOrWhy struct {
	t   Target
	err error
}

func run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it builds network namespaces")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	fmt.Fprintln(stderr, "building ebpfnet ...")
	bin, err := world.Binary()
	if err != nil {
		return err
	}
	h := &harness{opts: o, t: &world.RunT{}, self: self, bin: bin, log: stderr}
	// world.Binary builds into a temp dir of its own.
	h.t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	_, cniStateBefore := os.Stat("/var/lib/cni")
	r := &report.Run{Machine: report.ThisMachine(), Command: o.Command, Method: method(o), Started: time.Now(), Groups: groups()}
	fmt.Fprintf(stderr, "machine: %s, %d cores, kernel %s\n", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel)
	runErr := h.runAll(ctx)
	fmt.Fprintln(stderr, "tearing the worlds down ...")
	cleanErr := h.t.Close()
	if _, err := os.Stat("/var/lib/cni"); err == nil && cniStateBefore != nil {
		cleanErr = errors.Join(cleanErr, errors.New("/var/lib/cni appeared during the run"))
	}
	if runErr != nil || cleanErr != nil {
		fmt.Fprintf(stderr, "what the worlds logged:\n%s", h.t.Logged())
	}
	r.Finished = time.Now()
	r.Samples = h.samples
	r.Notes = notes(h)
	if len(r.Samples) > 0 {
		fmt.Fprint(stdout, report.Markdown(r))
		if o.Out != "" {
			if err := report.Write(o.Out, r); err != nil {
				return errors.Join(runErr, cleanErr, err)
			}
			fmt.Fprintf(stderr, "wrote %s\n", filepath.Join(o.Out, "results.{md,json}, ratios.png, scale.png"))
		}
	}
	return errors.Join(runErr, cleanErr)
}

// runAll builds the three worlds, finds what each side can do, then runs
// the plan.
func (h *harness) runAll(ctx context.Context) error {
	for _, mk := range []struct {
		name string
		new  func(context.Context, *harness) (side, error)
	}{{report.Ebpfnet, newEbpfnet}, {report.EbpfnetDocker, newEbpfnetDocker}, {report.Peer, newPeer},
		{report.Docker, newDockerBridge}, {report.Limit, newLimit}} {
		fmt.Fprintf(h.log, "setting up %s ...\n", mk.name)
		sr := &sideRun{name: mk.name, targets: map[string]targetOrWhy{}}
		sr.s, sr.setupErr = mk.new(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if sr.setupErr != nil {
			fmt.Fprintf(h.log, "%s: setup failed: %v\n", mk.name, sr.setupErr)
			sr.s = nil
		}
		h.sides = append(h.sides, sr)
	}
	for _, sr := range h.sides {
		if sr.s == nil {
			continue
		}
		for _, p := range h.opts.Paths {
			t, err := sr.s.Target(p)
			if err == nil {
				// A path the side should do but does not is a failure
				// in every figure of it, not an n/a.
				if perr := h.probe(ctx, t); perr != nil {
					err = fmt.Errorf("unreachable: %s", message(perr))
				}
			}
			if err != nil {
				fmt.Fprintf(h.log, "%s %s: %s\n", sr.name, p, outcome(err, nil, nil))
			}
			sr.targets[p] = targetOrWhy{t, err}
		}
	}
	if err := h.execute(ctx, h.plan()); err != nil {
		return err
	}
	var errs []error
	for _, sr := range h.sides {
		if sr.setupErr != nil {
			errs = append(errs, fmt.Errorf("%s: setup: %w", sr.name, sr.setupErr))
		}
	}
	return errors.Join(errs...)
}

// record adds one figure, or the reason there is none, for a side.
func (h *harness) record(sideName, group string, m metric, ports, round int, v float64, err error) {
	s := report.Sample{Side: sideName, Group: group, Metric: m.name, Unit: m.unit, Higher: m.higher, Ports: ports, Round: round}
	switch {
	case err == nil:
		s.Value = &v
	case isNA(err):
		s.NA = err.Error()
	default:
		s.Error = err.Error()
	}
	h.samples = append(h.samples, s)
}

// newWorld builds a world. One without a daemon gets an empty state dir,
// so the offline reset of its teardown finds nothing to do rather than
// failing.
func (h *harness) newWorld(daemon bool) (*world.World, error) {
	var w *world.World
	if err := world.Try(func() { w = world.New(h.t, h.bin) }); err != nil {
		return nil, err
	}
	if daemon {
		var extra []string
		if h.opts.XDP != "" {
			extra = []string{"--xdp", h.opts.XDP}
		}
		return w, world.Try(func() { w.StartDaemon(extra...) })
	}
	args := w.DaemonArgs()
	for i, a := range args[:len(args)-1] {
		if a == "--state-dir" {
			if err := os.MkdirAll(args[i+1], 0o700); err != nil {
				return nil, fmt.Errorf("create state dir: %w", err)
			}
		}
	}
	return w, nil
}
