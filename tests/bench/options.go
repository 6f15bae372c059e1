package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are the command line.
type Options struct {
	Rounds         int
	Duration       time.Duration // of each load
	Paths          []string
	Workloads      []Workload
	Scale          []int // published-port counts; none skips the stage
	Endpoints      int   // endpoints created per round; 0 skips
	PublishTimeout time.Duration
	Size           int // request and response bytes of the RR loads
	Out            string
	Quick          bool
	Command        string
	XDP            string // the daemon's --xdp; empty: its default
}

// quick is what -quick changes, unless the flag is also given.
var quick = map[string]string{"rounds": "1", "duration": "1s", "scale": "1,100", "endpoints": "10"}

func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	rounds := fs.Int("rounds", 3, "rounds; each runs every side once per measurement, interleaved")
	dur := fs.Duration("duration", 2*time.Second, "how long each load runs (iperf3: whole seconds, at least 1)")
	paths := fs.String("paths", "all", "paths to measure: all or a list of "+strings.Join(pathKeys(), ","))
	workloads := fs.String("workloads", "all", "workloads: all or a list of tcp-stream,tcp-rr,tcp-crr,udp-rr")
	scale := fs.String("scale", "1,1000,10000", "published-port counts for CRR through DNAT (needs the dnat path), or none")
	endpoints := fs.Int("endpoints", 100, "endpoints to create and remove per round for the control-plane figure; 0 skips")
	timeout := fs.Duration("publish-timeout", 150*time.Second, "stop a side's publication of the scale ports after this long")
	size := fs.Int("size", 1, "request and response size in bytes of the request/response loads")
	out := fs.String("out", "", "also write results.md, results.json and the charts to this dir")
	q := fs.Bool("quick", false, "smoke run: "+quickText())
	xdp := fs.String("xdp", "", "the daemon's --xdp (auto, native, generic, off); default: the daemon's")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *q {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quick {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	o := Options{
		Rounds: *rounds, Duration: *dur, Endpoints: *endpoints, PublishTimeout: *timeout,
		Size: *size, Out: *out, Quick: *q, XDP: *xdp, Command: strings.Join(append([]string{"go run ./tests/bench"}, args...), " "),
	}
	var err error
	if o.Paths, err = pick(*paths, pathKeys()); err != nil {
		return o, fmt.Errorf("-paths: %w", err)
	}
	ws, err := pick(*workloads, []string{string(Stream), string(RR), string(CRR), string(UDPRR)})
	if err != nil {
		return o, fmt.Errorf("-workloads: %w", err)
	}
	for _, w := range ws {
		o.Workloads = append(o.Workloads, Workload(w))
	}
	if o.Scale, err = parseScale(*scale); err != nil {
		return o, fmt.Errorf("-scale: %w", err)
	}
	switch {
	case o.Rounds < 1:
		return o, fmt.Errorf("-rounds must be at least 1")
	case o.Duration < 100*time.Millisecond:
		return o, fmt.Errorf("-duration must be at least 100ms")
	case o.Endpoints < 0 || o.Endpoints > 200:
		return o, fmt.Errorf("-endpoints must be 0 to 200: they share a /24 with A, B and S")
	case o.Size < 1:
		return o, fmt.Errorf("-size must be at least 1")
	}
	return o, nil
}

func quickText() string {
	var parts []string
	for _, k := range []string{"rounds", "duration", "scale", "endpoints"} {
		parts = append(parts, "-"+k+" "+quick[k])
	}
	return strings.Join(parts, " ")
}

func pathKeys() []string {
	var keys []string
	for _, p := range allPaths {
		keys = append(keys, p.Key)
	}
	return keys
}

// pick parses "all" or a comma list of known names, kept in known's order.
func pick(list string, known []string) ([]string, error) {
	if list == "all" {
		return known, nil
	}
	want := strings.Split(list, ",")
	for _, w := range want {
		if !slices.Contains(known, w) {
			return nil, fmt.Errorf("unknown %q: want all or some of %s", w, strings.Join(known, ","))
		}
	}
	var out []string
	for _, k := range known {
		if slices.Contains(want, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func parseScale(s string) ([]int, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 12000 {
			return nil, fmt.Errorf("%q: want port counts from 1 to 12000, so the ports stay below the ephemeral range", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
