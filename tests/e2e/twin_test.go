package e2e

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// The netfilter comparison of issue 19: every probe runs against ebpfnet
// and against its twin, a node doing with iptables what Docker's bridge
// driver does (world.Netfilter), with the same addresses on both sides:
// the node's uplink 198.51.100.1, ext 198.51.100.2 routing to far
// 203.0.113.2 over a link of MTU 1280, and endpoints on 10.10.0.0/24. A
// probe returns what a user would see, in words that do not depend on
// timing; ebpfnet must see what netfilter sees.

var twinDoc = flag.Bool("twin-doc", false, "rewrite the comparison table in docs/datapath.md from this run")

var (
	twinSubnet  = netip.MustParsePrefix("10.10.0.0/24")
	twinGateway = netip.MustParseAddr("10.10.0.1")
)

// side is one of the two worlds.
type side interface {
	Name() string
	World() *world.World
	Far() string // the far netns
	// Endpoint creates an endpoint with the address 10.10.0.host and
	// returns its netns.
	Endpoint(t *testing.T, name string, host byte) string
	// Publish publishes ports of an endpoint, with docker's -p syntax;
	// the error is what the user would be told.
	Publish(endpoint string, specs ...string) error
	// Flows is the node's connection tracking table, as the side's own
	// tool shows it (ebpfnet bpf ct, conntrack -L).
	Flows(t *testing.T) []flow
	// LimitSNATPorts makes masquerade pick ports from lo-hi for flows to
	// dst, until the test ends. ebpfnet's range is for every flow: its
	// daemon restarts with --snat-ports.
	LimitSNATPorts(t *testing.T, dst netip.AddrPort, lo, hi uint16)
	// NodeAddrKnown returns once the side's datapath treats addr, just
	// added to the node, as the node's: netfilter at once (--dst-type
	// LOCAL is asked per packet), ebpfnet once its daemon has the netlink
	// event in enet_node_addrs.
	NodeAddrKnown(t *testing.T, addr netip.Addr)
}

// flow is a conntrack entry: its original direction, and time left.
type flow struct {
	Proto    string
	Src, Dst netip.AddrPort
	TTL      float64 // seconds
}

// twinProbe is one row of the comparison: a user's session, run on a side,
// telling what the user saw.
type twinProbe struct {
	name  string
	issue string // the item of issue 19, or "" for what already matched
	slow  bool   // waits out a timeout: runs beside the other slow ones, last
	run   func(t *testing.T, s side) string
}

func (p twinProbe) label() string {
	if p.issue == "" {
		return p.name
	}
	return p.name + " (" + p.issue + ")"
}

// TestNetfilterTwin builds both worlds once and runs each probe on both
// at once, each side in a subtest; a probe fails when the sides saw
// different things. The slow probes run together after the others.
func TestNetfilterTwin(t *testing.T) {
	t.Parallel()
	sides := []side{newNetfilterSide(t), newEbpfnetSide(t)}
	probes := slices.Concat(sameProbes, issue19Probes)
	rows := make([][]string, len(probes))
	t.Cleanup(func() { reportTwin(t, rows) })
	for i, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			if p.slow {
				t.Parallel()
			}
			got := make([]string, len(sides))
			t.Cleanup(func() {
				rows[i] = append([]string{p.label()}, got...)
				if got[0] != got[1] {
					t.Errorf("%s\n%s saw: %s\n%s saw: %s", p.label(), sides[0].Name(), got[0], sides[1].Name(), got[1])
				}
			})
			for j, s := range sides {
				got[j] = "did not finish"
				t.Run(s.Name(), func(t *testing.T) {
					t.Parallel()
					got[j] = p.run(t, s)
				})
			}
		})
	}
}

// reportTwin logs the table of the probes that ran and, with -twin-doc,
// writes it into docs/datapath.md.
func reportTwin(t *testing.T, rows [][]string) {
	var ran [][]string
	for _, r := range rows {
		if r != nil {
			ran = append(ran, r)
		}
	}
	t.Logf("the comparison:\n%s", twinTable(ran))
	if *twinDoc && len(ran) == len(rows) {
		if err := writeTwinTable("../../docs/datapath.md", twinTable(ran)); err != nil {
			t.Error(err)
		}
	}
}

func twinTable(rows [][]string) string {
	var b strings.Builder
	b.WriteString("| probe | netfilter | ebpfnet |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	return b.String()
}

const (
	twinBegin = "<!-- twin table: go test ./tests/e2e -run TestNetfilterTwin -twin-doc -->\n"
	twinEnd   = "<!-- end of twin table -->\n"
)

// writeTwinTable puts the table between the markers of a markdown file.
func writeTwinTable(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	before, rest, ok := strings.Cut(string(b), twinBegin)
	_, after, ok2 := strings.Cut(rest, twinEnd)
	if !ok || !ok2 {
		return fmt.Errorf("%s has no twin table markers", path)
	}
	return os.WriteFile(path, []byte(before+twinBegin+table+twinEnd+after), 0o644)
}
