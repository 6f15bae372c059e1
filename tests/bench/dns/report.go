package dns

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// The targets: ebpfnet's rate at least 1.5 times aardvark-dns's,
// its p99 no worse.
const (
	TargetQPS = 1.5
	TargetP99 = 1.0
)

// stat is a median over the rounds that did not fail, with min and max.
type stat struct {
	N, Failed        int
	Median, Min, Max float64
	Err              string
}

func (k *Kind) stat(f func(Round) float64) stat {
	var st stat
	var v []float64
	if k == nil {
		return st
	}
	for _, r := range k.Rounds {
		if r.Err != "" {
			st.Failed++
			if st.Err == "" {
				st.Err = r.Err
			}
			continue
		}
		if x := f(r); x >= 0 { // negative: not measured in this round
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return st
	}
	slices.Sort(v)
	st.N, st.Min, st.Max = len(v), v[0], v[len(v)-1]
	if n := len(v); n%2 == 1 {
		st.Median = v[n/2]
	} else {
		st.Median = (v[n/2-1] + v[n/2]) / 2
	}
	return st
}

func µs(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// metrics are the table's rows of each kind.
var metrics = []struct {
	name, unit string
	higher     bool
	f          func(Round) float64
	target     float64 // of ebpfnet ÷ aardvark-dns; 0 for none
}{
	{"queries/s (dnsperf)", "q/s", true, func(r Round) float64 { return r.QPS }, TargetQPS},
	{"p50", "µs", false, func(r Round) float64 { return latencyµs(r, r.P50) }, 0},
	{"p99", "µs", false, func(r Round) float64 { return latencyµs(r, r.P99) }, TargetP99},
	{"dnsperf average latency under load", "µs", false, func(r Round) float64 { return µs(r.AvgLatency) }, 0},
	{"resolver CPU time per query", "µs", false, func(r Round) float64 { return µs(r.CPU) }, 0},
}

// latencyµs is a latency of a round, -1 if the round has none (+stub).
func latencyµs(r Round, d time.Duration) float64 {
	if r.LatN == 0 {
		return -1
	}
	return µs(d)
}

// pair is two sides compared: a's median over b's.
type pair struct{ a, b, title string }

// pairs are the ratios the table shows: the first is the issue's
// target's, the plain queries resolver libraries send.
var pairs = []pair{
	{Ebpfnet, Aardvark, "ebpfnet ÷ aardvark-dns"},
	{Ebpfnet + EDNS, Aardvark + EDNS, "ebpfnet+edns ÷ aardvark-dns+edns"},
	{Ebpfnet + Stub, Ebpfnet, "ebpfnet+stub ÷ ebpfnet"},
}

// Side is the named side of a result, nil when it did not run.
func (r Result) Side(name string) *Side {
	for i := range r.Sides {
		if r.Sides[i].Name == name {
			return &r.Sides[i]
		}
	}
	return nil
}

// Ratio is ebpfnet's median of a kind's metric over aardvark-dns's.
func (r Result) Ratio(kind string, f func(Round) float64) (float64, bool) {
	return r.ratio(pairs[0], kind, f)
}

// ratio is a pair's ratio of medians of a kind's metric.
func (r Result) ratio(p pair, kind string, f func(Round) float64) (float64, bool) {
	e, a := r.Side(p.a), r.Side(p.b)
	if e == nil || a == nil {
		return 0, false
	}
	se, sa := e.Kinds[kind].stat(f), a.Kinds[kind].stat(f)
	if se.N == 0 || sa.N == 0 || sa.Median == 0 {
		return 0, false
	}
	return se.Median / sa.Median, true
}

// Met says whether ebpfnet meets the targets for both kinds: rate
// at least TargetQPS times aardvark-dns's, p99 no worse; false with the
// reason when it does not or there are no figures to tell.
func (r Result) Met() (bool, string) {
	var why []string
	for _, k := range kinds {
		for _, m := range metrics {
			if m.target == 0 {
				continue
			}
			v, ok := r.Ratio(k, m.f)
			switch {
			case !ok:
				why = append(why, fmt.Sprintf("%s %s: no ratio", k, m.name))
			case m.higher && v < m.target:
				why = append(why, fmt.Sprintf("%s %s: %.2f×, want at least %.2f×", k, m.name, v, m.target))
			case !m.higher && v > m.target:
				why = append(why, fmt.Sprintf("%s %s: %.2f×, want at most %.2f×", k, m.name, v, m.target))
			}
		}
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// Markdown renders the result: a table of each side's medians (min–max)
// and ebpfnet's ratio to aardvark-dns against the target, then notes.
func Markdown(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## DNS: ebpfnet's resolver against aardvark-dns\n\n")
	head := []string{"kind", "metric", "unit", "better"}
	for _, s := range r.Sides {
		head = append(head, s.Name)
	}
	var shown []pair
	for _, p := range pairs {
		if r.Side(p.a) != nil && r.Side(p.b) != nil {
			shown = append(shown, p)
			head = append(head, p.title)
		}
	}
	head = append(head, "target (ebpfnet ÷ aardvark-dns)")
	line(&b, head)
	sep := []string{"---", "---", "---", "---"}
	for range len(head) - 4 {
		sep = append(sep, "---:")
	}
	line(&b, sep)
	var why []string
	ref := func(text string) string {
		for i, t := range why {
			if t == text {
				return fmt.Sprintf("[%d]", i+1)
			}
		}
		why = append(why, text)
		return fmt.Sprintf("[%d]", len(why))
	}
	for _, k := range kinds {
		for _, m := range metrics {
			cells := []string{k, m.name, m.unit, better(m.higher)}
			for _, s := range r.Sides {
				cells = append(cells, cellText(s, s.Kinds[k].stat(m.f), ref))
			}
			target := "–"
			for _, p := range shown {
				ratio := "–"
				if v, ok := r.ratio(p, k, m.f); ok {
					ratio = fmt.Sprintf("%.2f", v)
				}
				cells = append(cells, ratio)
			}
			if m.target != 0 {
				op := "≥"
				if !m.higher {
					op = "≤"
				}
				target = fmt.Sprintf("%s %.2f", op, m.target)
				if v, ok := r.Ratio(k, m.f); ok {
					if (m.higher && v >= m.target) || (!m.higher && v <= m.target) {
						target += " met"
					} else {
						target += " **not met**"
					}
				}
			}
			line(&b, append(cells, target))
		}
	}
	for _, row := range []struct {
		name, unit string
		f          func(Side) float64
	}{
		{"resident memory, records loaded", "MiB", func(s Side) float64 { return mib(s.RSS) }},
		{"resident memory, after the runs", "MiB", func(s Side) float64 { return mib(s.RSSAfter) }},
		{"making the records", "s", func(s Side) float64 { return s.Setup.Seconds() }},
	} {
		cells := []string{"", row.name, row.unit, "lower"}
		for _, s := range r.Sides {
			if s.Err != "" {
				cells = append(cells, cellText(s, stat{}, ref))
				continue
			}
			cells = append(cells, report.Num(row.f(s)))
		}
		for _, p := range shown {
			ratio := "–"
			if e, a := r.Side(p.a), r.Side(p.b); e.Err == "" && a.Err == "" && row.f(*a) > 0 {
				ratio = fmt.Sprintf("%.2f", row.f(*e)/row.f(*a))
			}
			cells = append(cells, ratio)
		}
		line(&b, append(cells, "–"))
	}
	if len(why) > 0 {
		b.WriteString("\n")
		for i, w := range why {
			fmt.Fprintf(&b, "%d. %s\n", i+1, w)
		}
	}
	if ok, why := r.Met(); ok {
		b.WriteString("\nTarget met: ebpfnet's rate is at least 1.5× aardvark-dns's and its p99 no worse, for both kinds.\n")
	} else if r.Side(Ebpfnet) != nil && r.Side(Aardvark) != nil {
		fmt.Fprintf(&b, "\nTarget not met: %s.\n", why)
	}
	fmt.Fprintf(&b, "\nNotes:\n\n")
	for _, n := range notes(r) {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	return b.String()
}

func notes(r Result) []string {
	o := r.Options
	p := o.Dnsperf
	var vs []string
	for _, s := range r.Sides {
		if s.Version != "" {
			vs = append(vs, s.Version)
		}
	}
	n := []string{
		fmt.Sprintf("%d round(s), interleaved: each round runs local names on every side, then forwarded names; a cell is the median "+
			"over the rounds (min–max), a ratio of medians. Versions: %s, %s.", o.Rounds, strings.Join(vs, ", "), r.Dnsperf),
		fmt.Sprintf("Records: %d on each side, %d endpoints (containers) named <world>-cN with %d aliases each. Each side has a world of its own: "+
			"the resolver in the node namespace on gateway %s of %s, the client in the first endpoint's namespace on that network.",
			r.Records, o.Endpoints, o.Aliases, Gateway, Subnet),
		fmt.Sprintf("aardvark-dns: Podman's config dir, a file for the network: its first line the gateway and the upstream (as `podman network "+
			"create --dns` writes it), a line per container with its ID, address and names; started with `--port 53 run` in the node. "+
			"ebpfnet: the daemon built from this tree with `--dns %s`, `network create --subnet %s`, then `endpoint create NAME --network N --alias A...` "+
			"per endpoint, timed in the last row; its RSS is the whole daemon's (datapath and %d endpoints included), %s MiB with the network "+
			"and no endpoint.", UpstreamAddr, Subnet, o.Endpoints, rssBase(r)),
		fmt.Sprintf("Upstream: an authoritative server of this harness (miekg/dns, UDP and TCP) in each world's ext namespace at %s, the same "+
			"program and address for both sides, answering A %s for every name of %s with TTL %d; forwarded queries cycle through %d distinct names.",
			UpstreamAddr, FwdAnswer, FwdZone, o.UpstreamTTL, o.ForwardNames),
		fmt.Sprintf("queries/s: `dnsperf -l %g -c %d -T %d -q %d -t %g` over UDP from the client, its query file the records in random order "+
			"(local) or the forwarded names; a run with more than 1%% lost or non-NOERROR answers fails. dnsperf 2.10 gives no percentiles: "+
			"p50 and p99 are of a separate closed-loop run of this harness's Go client right after, %d A queries with %d in flight (a socket each), "+
			"a lost one (%s) counted at that timeout.",
			o.Duration.Seconds(), p.Clients, p.Threads, p.Outstanding, p.Timeout.Seconds(), o.LatencyQueries, o.LatencyConc, o.LatencyTimeout),
		"aardvark-dns 1.4.0 serves UDP only; all figures are UDP. Client, resolver and upstream share the machine's cores, alike on both sides, " +
			"so a resolver's rate is bounded by dnsperf's and the kernel's share too, and moves with any other load on the machine; " +
			"its CPU time per query (utime+stime of all its threads over the dnsperf run ÷ answers; for ebpfnet the whole daemon's) does not.",
		"Sides: plain, the queries glibc's and musl's resolvers send (no EDNS0; dnsperf's default); +edns, dnsperf -e and the latency " +
			"client with EDNS0 (1232), as dig asks; +stub, ebpfnet asked at 127.0.0.11 by dnsperf in the world's cgroup, the socket " +
			"programs sending it to the gateway (no latency run: the harness's own sockets are outside that cgroup). ebpfnet's datapath " +
			"(enet_from_ep) answers plain A queries for the network's names itself; the CPU that takes is the sender's softirq, not the " +
			"daemon's, so on the plain local rows its 'resolver CPU' is of what reaches the daemon only. Its resolver answers the rest: " +
			"the +edns local rows are the resolver's own.",
	}
	return n
}

func rssBase(r Result) string {
	if s := r.Side(Ebpfnet); s != nil && s.RSSBase > 0 {
		return report.Num(mib(s.RSSBase))
	}
	return "–"
}

func better(higher bool) string {
	if higher {
		return "higher"
	}
	return "lower"
}

func cellText(s Side, st stat, ref func(string) string) string {
	switch {
	case s.Err != "" && s.NA:
		return "n/a " + ref("n/a: "+s.Err)
	case s.Err != "":
		return "failed " + ref("failed: "+s.Err)
	case st.N == 0 && st.Failed > 0:
		return "failed " + ref("failed: "+st.Err)
	case st.N == 0:
		return "–"
	}
	t := report.Num(st.Median)
	if st.N > 1 {
		t += fmt.Sprintf(" (%s–%s)", report.Num(st.Min), report.Num(st.Max))
	}
	if st.Failed > 0 {
		t += fmt.Sprintf(" %d failed %s", st.Failed, ref("failed: "+st.Err))
	}
	return t
}

func line(b *strings.Builder, cells []string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " ")
	}
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}
