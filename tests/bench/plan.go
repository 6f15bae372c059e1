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
			if c, ok := sr.s.(cannot); ok && err == nil {
				err = c.cannot(path, wl)
			}
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

// cannot is a side that knows a workload on a path fails on it, and
// why: a notAvailable error, recorded as n/a with the reason.
type cannot interface {
	cannot(path string, wl Workload) error
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

// endpointsStep creates k endpoints and removes them, on ebpfnet through
// its CLI and then through ebpfnet-cni, on the peer through its plugins: a
// step, so ebpfnet's CNI batch runs next to the peer's. The CNI rows are
// the p50 of the k ADD calls and of the k DEL calls of a round, and the
// containers a runtime attaches and detaches a second at that pace.
func (h *harness) endpointsStep(round int, sr *sideRun) step {
	k := h.opts.Endpoints
	mc := metric{fmt.Sprintf("create %d endpoints", k), "s", false}
	mr := metric{fmt.Sprintf("remove %d endpoints", k), "s", false}
	cniMetrics := []metric{
		{"CNI ADD p50", "ms", false},
		{"CNI DEL p50", "ms", false},
		{fmt.Sprintf("CNI ADD+DEL, %d containers", k), "containers/s", true},
	}
	return step{
		label: fmt.Sprintf("%s %d endpoints %s", h.roundLabel(round), k, sr.name),
		run: func(ctx context.Context) string {
			t := endpointTimes{err: sr.setupErr, cniErr: sr.setupErr}
			if sr.s != nil {
				t = sr.s.Endpoints(ctx, k)
			}
			h.record(sr.name, "control", mc, 0, round, t.create.Seconds(), t.err)
			h.record(sr.name, "control", mr, 0, round, t.remove.Seconds(), t.err)
			said := outcome(t.err, []metric{mc, mr}, []float64{t.create.Seconds(), t.remove.Seconds()})
			vals, err := t.cni.figures(k), t.cniErr
			if err == nil && vals == nil {
				err = fmt.Errorf("%d ADDs and %d DELs timed, not %d of each", len(t.cni.add), len(t.cni.del), k)
			}
			for i, m := range cniMetrics {
				h.record(sr.name, "control", m, 0, round, at(vals, i), err)
			}
			if t.err != nil && err != nil && t.err.Error() == err.Error() {
				return said // one failure, said once
			}
			return said + "; " + outcome(err, cniMetrics, vals)
		},
	}
}

// figures are the CNI rows of n ADDs and n DELs: the p50 of each in ms,
// and containers/s over the calls; nil unless there are n of each.
func (c cniCalls) figures(n int) []float64 {
	if n == 0 || len(c.add) != n || len(c.del) != n {
		return nil
	}
	var sum time.Duration
	for _, d := range append(slices.Clone(c.add), c.del...) {
		sum += d
	}
	return []float64{ms(p50(c.add)), ms(p50(c.del)), float64(n) / sum.Seconds()}
}

// p50 is the median, the mean of the middle two for an even count.
func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ports(n int) string {
	if n == 1 {
		return "1 port"
	}
	return fmt.Sprintf("%d ports", n)
}
