package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// step is one measurement of one side; it says in a few words how it went.
type step struct {
	label string
	run   func(ctx context.Context) string
}

// plan lists every step of the run. In each round every measurement runs
// on the sides in turn (ebpfnet, peer, limit), so slow drift of the machine
// touches all of them alike.
func (h *harness) plan() []step {
	var steps []step
	o := h.opts
	for round := 1; round <= o.Rounds; round++ {
		for i, p := range o.Paths {
			for _, wl := range o.Workloads {
				for _, sr := range h.sides {
					// The limit's pair is the same for every path: measured
					// once per workload and round, shown in every path's rows.
					if sr.name == report.Limit && i > 0 {
						continue
					}
					steps = append(steps, h.loadStep(round, p, wl, sr))
				}
			}
		}
		for _, sr := range h.sides {
			steps = append(steps, h.rssStep(round, sr))
		}
	}
	if slices.Contains(o.Paths, "dnat") {
		for round := 1; round <= o.Rounds; round++ {
			for _, n := range o.Scale {
				steps = append(steps, h.scaleSteps(round, n)...)
			}
		}
	}
	if o.Endpoints > 0 {
		for round := 1; round <= o.Rounds; round++ {
			for _, sr := range h.sides {
				steps = append(steps, h.endpointsStep(round, sr))
			}
		}
	}
	return steps
}

func (h *harness) execute(ctx context.Context, steps []step) error {
	start := time.Now()
	for i, st := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Fprintf(h.log, "[%3d/%d %s] %s: ", i+1, len(steps), clock(time.Since(start)), st.label)
		had := len(h.samples)
		said := st.run(ctx)
		if err := ctx.Err(); err != nil {
			// An interrupted step's figures are not figures.
			h.samples = h.samples[:had]
			fmt.Fprintln(h.log, "interrupted")
			return err
		}
		fmt.Fprintln(h.log, said)
	}
	return nil
}

func clock(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (h *harness) roundLabel(round int) string {
	return fmt.Sprintf("round %d/%d", round, h.opts.Rounds)
}

func (h *harness) loadStep(round int, path string, wl Workload, sr *sideRun) step {
	groups := []string{path}
	if sr.name == report.Limit {
		groups = h.opts.Paths
	}
	return step{
		label: fmt.Sprintf("%s %-9s %-10s %s", h.roundLabel(round), path, wl, sr.name),
		run: func(ctx context.Context) string {
			tw := targetOrWhy{err: sr.setupErr}
			if sr.s != nil {
				tw = sr.targets[path]
			}
			var vals []float64
			err := tw.err
			if err == nil {
				vals, err = h.measure(ctx, tw.t, wl, h.opts.Duration)
			}
			for _, g := range groups {
				for i, m := range metricsOf(wl) {
					h.record(sr.name, g, m, 0, round, at(vals, i), err)
				}
			}
			return outcome(err, metricsOf(wl), vals)
		},
	}
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// outcome is a step's figures, or why it has none, for the progress line.
func outcome(err error, ms []metric, vals []float64) string {
	if err != nil {
		if isNA(err) {
			return "n/a: " + err.Error()
		}
		return "failed: " + err.Error()
	}
	var parts []string
	for i, m := range ms {
		parts = append(parts, report.Num(vals[i])+" "+m.unit)
	}
	return strings.Join(parts, ", ")
}

func (h *harness) rssStep(round int, sr *sideRun) step {
	m := metric{"daemon RSS, A, B and S up", "MiB", false}
	return step{
		label: fmt.Sprintf("%s daemon memory %s", h.roundLabel(round), sr.name),
		run:   func(ctx context.Context) string { return h.recordRSS(ctx, sr, m, 0, round, nil) },
	}
}

// recordRSS records the daemon's memory, or cause when the daemon could
// not reach the state the figure is about.
func (h *harness) recordRSS(ctx context.Context, sr *sideRun, m metric, ports, round int, cause error) string {
	var rss uint64
	err := sr.setupErr
	if sr.s != nil {
		if rss, err = sr.s.RSS(ctx); err == nil && cause != nil {
			err = cause
		}
	}
	mib := float64(rss) / (1 << 20)
	h.record(sr.name, "control", m, ports, round, mib, err)
	return outcome(err, []metric{m}, []float64{mib})
}

// scaleSteps publish n ports on every side, measure the CRR through the
// last of them, then unpublish: once per round, so the publish time too is
// a median of rounds.
func (h *harness) scaleSteps(round, n int) []step {
	targets := map[string]targetOrWhy{}
	var steps []step
	pub := metric{"publish " + ports(n), "s", false}
	crr := metric{"tcp-crr, " + ports(n), "conn/s", true}
	rss := metric{"daemon RSS, " + ports(n) + " published", "MiB", false}
	for _, sr := range h.sides {
		steps = append(steps, step{
			label: fmt.Sprintf("%s publish %s %s", h.roundLabel(round), ports(n), sr.name),
			run: func(ctx context.Context) string {
				tw := targetOrWhy{err: sr.setupErr}
				var took time.Duration
				if sr.s != nil {
					tw.t, took, tw.err = sr.s.Publish(ctx, n)
				}
				h.record(sr.name, "control", pub, n, round, took.Seconds(), tw.err)
				said := outcome(tw.err, []metric{pub}, []float64{took.Seconds()})
				if tw.t.valid() {
					tw.err = nil
				}
				targets[sr.name] = tw
				h.recordRSS(ctx, sr, rss, n, round, tw.err)
				return said
			},
		})
	}
	for _, sr := range h.sides {
		steps = append(steps, step{
			label: fmt.Sprintf("%s dnat tcp-crr at %s %s", h.roundLabel(round), ports(n), sr.name),
			run: func(ctx context.Context) string {
				tw := targets[sr.name]
				var vals []float64
				err := tw.err
				if err == nil {
					vals, err = h.measure(ctx, tw.t, CRR, h.opts.Duration)
				}
				h.record(sr.name, "scale", crr, n, round, at(vals, 0), err)
				return outcome(err, []metric{crr}, vals[:min(1, len(vals))])
			},
		})
	}
	for _, sr := range h.sides {
		steps = append(steps, step{
			label: fmt.Sprintf("%s unpublish %s %s", h.roundLabel(round), ports(n), sr.name),
			run: func(ctx context.Context) string {
				if sr.s == nil {
					return "skipped"
				}
				if err := sr.s.Unpublish(ctx); err != nil {
					return "failed: " + err.Error()
				}
				return "done"
			},
		})
	}
	return steps
}

func (h *harness) endpointsStep(round int, sr *sideRun) step {
	k := h.opts.Endpoints
	mc := metric{fmt.Sprintf("create %d endpoints", k), "s", false}
	mr := metric{fmt.Sprintf("remove %d endpoints", k), "s", false}
	return step{
		label: fmt.Sprintf("%s %d endpoints %s", h.roundLabel(round), k, sr.name),
		run: func(ctx context.Context) string {
			err := sr.setupErr
			var create, remove time.Duration
			if sr.s != nil {
				create, remove, err = sr.s.Endpoints(ctx, k)
			}
			h.record(sr.name, "control", mc, 0, round, create.Seconds(), err)
			h.record(sr.name, "control", mr, 0, round, remove.Seconds(), err)
			return outcome(err, []metric{mc, mr}, []float64{create.Seconds(), remove.Seconds()})
		},
	}
}

func ports(n int) string {
	if n == 1 {
		return "1 port"
	}
	return fmt.Sprintf("%d ports", n)
}
