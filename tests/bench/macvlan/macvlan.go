// Package macvlan measures ebpfnet's macvlan endpoints talking to a host
// on the LAN against the limit, a raw veth on the same LAN switch: one
// iperf3 TCP stream, and sockperf ping-pong over UDP and TCP (rate, p50
// and p99 round trip). Everything runs in network namespaces of worlds
// (tests/world): the daemon in the node, the LAN (a bridge, br0, with the
// LAN host 192.0.2.100) behind the node's eth1, the uplink's far end in
// ext. Nothing runs in the machine's own network namespace.
//
// The sides:
//   - macvlan: an endpoint of `ebpfnet network create -d macvlan -o
//     parent=eth1`, to the LAN host;
//   - macvlan-up0: an endpoint of a macvlan network whose parent is the
//     node's uplink, up0, where ebpfnet's TC programs (enet_from_up,
//     enet_to_up) are attached, to ext;
//   - macvlan-up0-bare: the same path in a world without ebpfnet, a
//     macvlan device made with ip(8) on up0: what macvlan-up0 costs over
//     it is the programs';
//   - veth: a namespace of its own joined by a plain veth pair to the LAN
//     switch, to the LAN host: no macvlan, no node device, no eBPF.
//
// Run it as a step of the harness:
//
//	go run ./tests/bench macvlan                 # 3 rounds
//	go run ./tests/bench macvlan -quick          # every side for about a second
//	go run ./tests/bench macvlan -rounds 3 -out results/
package macvlan

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Side names.
const (
	LAN        = "macvlan"          // ebpfnet, parent eth1, to the LAN host
	Uplink     = "macvlan-up0"      // ebpfnet, parent up0, to ext
	UplinkBare = "macvlan-up0-bare" // ip(8) on up0 of a world without ebpfnet, to ext
	Veth       = "veth"             // the limit: a veth pair to the LAN switch
)

// Sides are the sides in the table's order, with their column titles.
var Sides = []struct{ Key, Title string }{
	{LAN, "macvlan on eth1 (ebpfnet)"},
	{Uplink, "macvlan on up0 (ebpfnet)"},
	{UplinkBare, "macvlan on up0 (no ebpfnet)"},
	{Veth, "raw veth"},
}

// Options are what Run measures and how.
type Options struct {
	Rounds   int           // each runs every load on every side, interleaved
	Duration time.Duration // of each load
	Sides    []string
	// Parallel runs each load on all sides at once: a smoke run's, as
	// sockperf sleeps 2 s before every run. The sides share the CPU, so
	// the figures compare nothing.
	Parallel bool
	Bin      string    // the ebpfnet binary; built from this tree when ""
	Command  string    // the command line, for the report
	Log      io.Writer `json:"-"` // progress; io.Discard when nil
}

// DefaultOptions: 3 rounds of 5 s loads.
func DefaultOptions() Options {
	var sides []string
	for _, s := range Sides {
		sides = append(sides, s.Key)
	}
	return Options{Rounds: 3, Duration: 5 * time.Second, Sides: sides}
}

// Quick is the smoke run's: one round, each load for a second (sockperf
// drops its first 400 ms as warm-up), on all sides at once.
func (o *Options) Quick() {
	o.Rounds, o.Duration, o.Parallel = 1, time.Second, true
}

// Flags registers the options on fs, o's values the defaults.
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds; each runs every load on every side, interleaved")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "length of each load (whole seconds)")
	fs.Func("sides", "sides to run, of "+strings.Join(DefaultOptions().Sides, ",")+" (default all)", func(s string) error {
		o.Sides = strings.Split(s, ",")
		return nil
	})
	fs.StringVar(&o.Bin, "bin", o.Bin, "ebpfnet binary (default: built from this tree)")
}

func (o Options) validate() error {
	switch {
	case o.Rounds < 1:
		return errors.New("rounds must be at least 1")
	case o.Duration < time.Second || o.Duration%time.Second != 0:
		return errors.New("duration must be whole seconds, at least 1s")
	case len(o.Sides) == 0:
		return errors.New("no side to run")
	}
	for _, s := range o.Sides {
		if !slices.Contains(DefaultOptions().Sides, s) {
			return fmt.Errorf("unknown side %q", s)
		}
	}
	return nil
}
