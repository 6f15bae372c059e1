package bpftest

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// TestProgramCost measures what a program run costs on the hot paths with
// no tracing and no monitor: BPF_PROG_RUN repeated in the kernel, the
// median of rounds, in ns a run. A measurement, not a check: it runs only
// with EBPFNET_BPF_COST=1 (docs/metrics.md and BENCHMARKS.md say how
// it compared the monitor's build with the one before it).
func TestProgramCost(t *testing.T) {
	if os.Getenv("EBPFNET_BPF_COST") == "" {
		t.Skip("a measurement: set EBPFNET_BPF_COST=1 to run it")
	}
	const repeat, rounds = 2_000_000, 7
	w := newNodeWorld(t)
	n := w.node(t)
	c := nodeConfig()
	c.Flags = 0 // no trace, no monitor
	n.SetConfig(c)
	cases := []struct {
		name string
		prog *ebpf.Program
		skb  SkBuff
		pkt  []byte
	}{
		{"enet_from_ep forward-peer (UDP)", n.EnetFromEp, SkBuff{IngressIfindex: uint32(m1.Ifindex)},
			out(m1, m2.IP).udp(40000, 53).bytes(t)},
		{"enet_from_up to-host (TCP)", n.EnetFromUp, SkBuff{IngressIfindex: uplinkIdx},
			in(remote, snatIP).tcp(50000, 22, tcpACK).bytes(t)},
	}
	for _, tc := range cases {
		traced := nodeConfig()
		n.SetConfig(traced)
		if r := n.RunSkb(tc.prog, tc.skb, tc.pkt); len(r.Events) == 1 {
			t.Logf("%s: verdict %d", tc.name, r.Events[0].Reason)
		}
		n.SetConfig(c)
		var ns []float64
		for range rounds {
			opts := &ebpf.RunOptions{Data: tc.pkt, Context: tc.skb, Repeat: repeat}
			start := time.Now()
			if _, err := tc.prog.Run(opts); err != nil {
				t.Fatal(err)
			}
			ns = append(ns, float64(time.Since(start).Nanoseconds())/repeat)
		}
		slices.Sort(ns)
		t.Logf("%s: %.1f ns a run (median of %d rounds of %d; min %.1f, max %.1f)", tc.name, ns[rounds/2], rounds,
			repeat, ns[0], ns[rounds-1])
	}
}
