package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestMasqueradeOtherProtocols (issue 19, point 9): an endpoint's GRE and
// IP protocol 253 reach ext from the node's address, by address alone, and
// their answers come back; a second endpoint's GRE to the same remote
// would share the node's side of the first's, and is dropped and counted,
// as netfilter drops it. An ICMP timestamp request is masqueraded by its
// identifier, as echo is, and its reply comes back.
func TestMasqueradeOtherProtocols(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.24.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	aIP := newEndpoint(t, w, a, "web")
	newEndpoint(t, w, b, "web")
	ext := world.ExtIP.String()
	for _, c := range []struct{ name, proto string }{{"gre", "47"}, {"253", "253"}} {
		t.Run(c.name, func(t *testing.T) {
			srv := startProbe(t, w, w.Ext, "ipecho", c.proto)
			if r := mustProbeReply(t, w, a, "ipping", c.proto, ext); r.Peer != ext {
				t.Fatalf("the answer came from %s, want %s", r.Peer, ext)
			}
			// The server writes what it saw as it answers: its line may
			// come a moment after the answer.
			world.Wait(2*time.Second, func() bool { return len(srv.lines()) > 0 })
			if got := srv.lines(); len(got) == 0 || got[0] != "got "+world.NodeIP.String() {
				t.Fatalf("ext saw %q, want the node's address %s", got, world.NodeIP)
			}
			f, ok := findFlow(t, w, c.name, netip.AddrPortFrom(aIP, 0), netip.AddrPortFrom(world.ExtIP, 0))
			if !ok || f.ReplyDst != netip.AddrPortFrom(world.NodeIP, 0).String() || f.State != "replied" ||
				f.TTLSeconds > 600 || f.TTLSeconds < 590 {
				t.Fatalf("flow of %s: %+v (found %v), want replied, to the node's address, 600s to live", c.name, f, ok)
			}
		})
	}
	t.Run("second endpoint to the same remote", func(t *testing.T) {
		startProbe(t, w, w.Ext, "ipecho", "47")
		mustProbeReply(t, w, a, "ipping", "47", ext) // a's flow is live
		grows(t, w, b, "drop-nat-clash", func() {
			if out, err := probeCmd(w, b, false, "ipping", "47", ext).CombinedOutput(); err == nil {
				t.Fatalf("b's GRE got an answer: %s", out)
			}
		})
	})
	t.Run("ICMP timestamp", func(t *testing.T) {
		if r := mustProbeReply(t, w, a, "icmpquery", "13", "4711", ext); r.Peer != ext || r.Reply != "type 14" {
			t.Fatalf("timestamp reply %+v, want type 14 from %s", r, ext)
		}
		if _, ok := findFlow(t, w, "icmp", netip.AddrPortFrom(aIP, 4711), netip.AddrPortFrom(world.ExtIP, 0)); !ok {
			t.Fatalf("no flow of the timestamp request:\n%s", w.MustCLI("bpf", "ct"))
		}
	})
}
