// Package dns measures ebpfnet's embedded DNS resolver against
// aardvark-dns, Podman's, serving the same names: queries per second with
// dnsperf for names of the network and for names forwarded to an upstream,
// p50 and p99 latency with a client of its own, and the resolver's
// resident memory. Each side gets a world of its own (tests/world): a node
// namespace holding the resolver on a bridge network's gateway address,
// a client namespace on that network, and an ext namespace with the
// upstream, an authoritative server run by this package, both sides
// forwarding to the same address. Nothing runs in the machine's own
// network namespace.
//
//	EBPFNET_BENCH_DNS=1 go test ./tests/bench/dns -run TestBench -v -timeout 30m
//	EBPFNET_BENCH_DNS="-rounds 1 -duration 5s -sides aardvark-dns" go test ./tests/bench/dns -run TestBench -v
//	go run ./tests/bench dns -rounds 3
package dns

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Side names.
const (
	Aardvark = "aardvark-dns"
	Ebpfnet  = "ebpfnet"
	// Variants of a side: +edns asks with EDNS0 (dnsperf -e), as dig
	// does, where ebpfnet's datapath leaves every query to its resolver;
	// +stub (ebpfnet only) asks 127.0.0.11 from the world's cgroup, the
	// socket programs sending it to the gateway.
	EDNS = "+edns"
	Stub = "+stub"
)

// The network every side serves, the same on both.
var (
	Subnet  = netip.MustParsePrefix("10.89.0.0/16")
	Gateway = netip.MustParseAddr("10.89.0.1")
	// UpstreamAddr is the upstream resolver, in each world's ext.
	UpstreamAddr = netip.AddrPortFrom(world.ExtIP, 53)
	// FwdAnswer is the upstream's answer to every name of FwdZone
	// (TEST-NET-1: only ever data, never a destination).
	FwdAnswer = netip.MustParseAddr("192.0.2.1")
)

// FwdZone is the upstream's zone, the forwarded names' suffix.
const FwdZone = "fwd.test."

// networkName is the network's name on both sides (aardvark's config
// file, ebpfnet's network).
const networkName = "dnsbench"

// Options are what Run measures and how.
type Options struct {
	// Endpoints is the number of containers (aardvark-dns) or endpoints
	// (ebpfnet) with names, each with Aliases aliases: Endpoints*(1+Aliases)
	// records on each side. The first is the client.
	Endpoints, Aliases int
	Rounds             int           // each runs every measurement on every side, interleaved
	Duration           time.Duration // of each dnsperf run
	Warmup             time.Duration // a dnsperf run per side and kind before the first round
	Dnsperf            Dnsperf
	// The latency client: LatencyQueries queries with LatencyConc in
	// flight, each lost one counted at LatencyTimeout.
	LatencyQueries, LatencyConc int
	LatencyTimeout              time.Duration
	ForwardNames                int    // distinct names in the forwarded query file
	UpstreamTTL                 uint32 // of the upstream's answers
	Sides                       []string
	Bin                         string // the ebpfnet binary; built from this tree when ""
	AardvarkBin                 string
	Log                         io.Writer `json:"-"` // progress; io.Discard when nil
}

// DefaultOptions: 500 endpoints with an alias each (as Podman gives a
// container its name and short ID), 1,000 records.
func DefaultOptions() Options {
	return Options{
		Endpoints: 500, Aliases: 1, Rounds: 3, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		Dnsperf:        Dnsperf{Clients: 8, Threads: 1, Outstanding: 64, Timeout: 2 * time.Second},
		LatencyQueries: 20000, LatencyConc: 8, LatencyTimeout: time.Second,
		ForwardNames: 100000, UpstreamTTL: 0,
		Sides:       []string{Aardvark, Ebpfnet, Aardvark + EDNS, Ebpfnet + EDNS, Ebpfnet + Stub},
		AardvarkBin: "/usr/lib/podman/aardvark-dns",
	}
}

// Records is the number of names each side serves.
func (o Options) Records() int { return o.Endpoints * (1 + o.Aliases) }

// Flags registers the options on fs, o's values the defaults.
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Endpoints, "endpoints", o.Endpoints, "endpoints (containers) with a name each")
	fs.IntVar(&o.Aliases, "aliases", o.Aliases, "aliases of each endpoint")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds; each runs every measurement on every side, interleaved")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of each dnsperf run")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "a dnsperf run of this length per side and kind before the first round; 0 skips")
	fs.IntVar(&o.Dnsperf.Clients, "clients", o.Dnsperf.Clients, "dnsperf -c")
	fs.IntVar(&o.Dnsperf.Threads, "threads", o.Dnsperf.Threads, "dnsperf -T")
	fs.IntVar(&o.Dnsperf.Outstanding, "outstanding", o.Dnsperf.Outstanding, "dnsperf -q")
	fs.DurationVar(&o.Dnsperf.Timeout, "timeout", o.Dnsperf.Timeout, "dnsperf -t")
	fs.IntVar(&o.LatencyQueries, "latency-queries", o.LatencyQueries, "queries of each latency run")
	fs.IntVar(&o.LatencyConc, "latency-conc", o.LatencyConc, "queries in flight in a latency run")
	fs.IntVar(&o.ForwardNames, "forward-names", o.ForwardNames, "distinct names in the forwarded query file")
	fs.Func("upstream-ttl", fmt.Sprintf("TTL of the upstream's answers (default %d)", o.UpstreamTTL), func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		o.UpstreamTTL = uint32(v)
		return err
	})
	fs.Func("sides", "sides to run, of "+strings.Join(DefaultOptions().Sides, ",")+" (default all)", func(s string) error {
		o.Sides = strings.Split(s, ",")
		return nil
	})
	fs.StringVar(&o.Bin, "bin", o.Bin, "ebpfnet binary (default: built from this tree)")
	fs.StringVar(&o.AardvarkBin, "aardvark", o.AardvarkBin, "aardvark-dns binary")
}

func (o Options) validate() error {
	switch {
	case o.Endpoints < 1 || o.Endpoints > 60000:
		return errors.New("endpoints must be 1 to 60000")
	case o.Aliases < 0:
		return errors.New("aliases must be 0 or more")
	case o.Rounds < 1:
		return errors.New("rounds must be at least 1")
	case o.Duration < time.Second:
		return errors.New("duration must be at least 1s")
	case o.Dnsperf.Clients < 1 || o.Dnsperf.Threads < 1 || o.Dnsperf.Outstanding < 1 || o.Dnsperf.Timeout < time.Second:
		return errors.New("dnsperf clients, threads and outstanding must be at least 1, its timeout at least 1s")
	case o.LatencyConc < 1 || o.LatencyQueries < o.LatencyConc || o.LatencyTimeout <= 0:
		return errors.New("latency queries must be at least latency-conc, at least 1")
	case o.ForwardNames < 1:
		return errors.New("forward-names must be at least 1")
	}
	for _, s := range o.Sides {
		if !slices.Contains(DefaultOptions().Sides, s) {
			return fmt.Errorf("unknown side %q", s)
		}
	}
	return nil
}

// variant splits a side's name into its resolver and how it is asked.
func variant(side string) (base string, edns, stub bool) {
	base, edns = strings.CutSuffix(side, EDNS)
	base, stub = strings.CutSuffix(base, Stub)
	return base, edns, stub
}
