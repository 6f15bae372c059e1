package e2e

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// churnSubnet has 61 addresses for endpoints (.1 is the gateway): fewer
// than two batches, so every round hands out addresses the one before gave
// back, and one allocation left behind per round fills it before the end.
const (
	churnSubnet = "10.30.0.0/26"
	churnBatch  = 50
	churnTotal  = 1000
	// What the daemon may hold more after the churn, after a collection:
	// a kilobyte kept per endpoint would be a megabyte of heap.
	churnHeapMargin = 1 << 20
	churnRSSMargin  = 4 << 20
)

// churner creates and removes endpoints through one API client, and
// sends each a datagram from the node so the datapath counts and tracks
// something of it, which must go with it.
type churner struct {
	t    *testing.T
	w    *world.World
	cl   *api.Client
	node net.PacketConn // a UDP socket of the node
	// seen is every endpoint's host ifindex and address, by name.
	seen map[string]api.Interface
	last netip.Addr // the last address handed out
}

func newChurner(t *testing.T, w *world.World) *churner {
	c := &churner{t: t, w: w, cl: api.NewClient(w.Socket), seen: map[string]api.Interface{}}
	err := world.InNetns(w.Node, func() (err error) {
		c.node, err = net.ListenPacket("udp4", ":0")
		return err
	})
	if err != nil {
		t.Fatalf("UDP socket in the node: %v", err)
	}
	t.Cleanup(func() { c.node.Close(); c.cl.Close() })
	return c
}

// round creates a batch of endpoints, each publishing a fixed host port
// (the same ones every round, so a reservation left behind makes the next
// round fail), a random TCP and a random UDP one; it has each counted in
// enet_stats, then removes them.
func (c *churner) round(round int) {
	c.t.Helper()
	ctx := context.Background()
	var eps []api.Endpoint
	for i := range churnBatch {
		name := c.w.Name(fmt.Sprintf("c%d-%d", round, i))
		ep, err := c.cl.CreateEndpoint(ctx, api.EndpointCreate{Name: name, Network: "churn",
			Publish: []string{fmt.Sprintf("%d:80", 20000+i), "8080", "53/udp"}})
		if err != nil {
			c.t.Fatalf("round %d: create %s: %v", round, name, err)
		}
		eps = append(eps, *ep)
		c.seen[name] = ep.Interfaces[0]
		c.last = netip.MustParseAddr(ep.Interfaces[0].IP)
		// Port 9 is closed: the endpoint answers with an ICMP error,
		// which its host side counts.
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.last, 9))
		if _, err := c.node.WriteTo([]byte("churn"), dst); err != nil {
			c.t.Fatalf("send to %s: %v", dst, err)
		}
	}
	c.waitCounted(eps)
	for _, ep := range eps {
		if err := c.cl.RemoveEndpoint(ctx, ep.Name); err != nil {
			c.t.Fatalf("round %d: remove %s: %v", round, ep.Name, err)
		}
	}
}

// waitCounted waits until enet_stats counts packets on every endpoint's
// host side, so that their removal has counters to remove.
func (c *churner) waitCounted(eps []api.Endpoint) {
	c.t.Helper()
	var missing []string
	world.Wait(10*time.Second, func() bool {
		stats, err := c.cl.BPF().Stats(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		counted := map[int]bool{}
		for _, s := range stats {
			counted[s.Ifindex] = true
		}
		missing = missing[:0]
		for _, ep := range eps {
			if !counted[ep.Interfaces[0].HostIfindex] {
				missing = append(missing, ep.Name)
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		c.t.Fatalf("enet_stats counts nothing on the host side of %v", missing)
	}
}

// Issue 6, point 4: creating and removing 1,000 endpoints with
// publications leaves the daemon holding what it held before, and the
// kernel and the store nothing of them.
func TestChurn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "churn", "--subnet", churnSubnet)
	c := newChurner(t, w)
	c.round(-1) // warm-up: the first use of every path, what is made lazily
	before := settled(t, w, func(api.Resources) bool { return true })
	maps0 := mapFill(status(t, w))
	links0 := linkNames(t, w, w.Node)
	pins0 := pinNames(t, w)

	start := time.Now()
	for round := range churnTotal / churnBatch {
		c.round(round)
	}
	took := time.Since(start)
	// What the last calls' connections held goes a moment after them.
	after := settled(t, w, func(r api.Resources) bool {
		return r.FDs <= before.FDs && r.Goroutines <= before.Goroutines
	})
	t.Logf("%d endpoints with %d publications created and removed in %v, %v each",
		churnTotal, 3*churnTotal, took.Round(time.Millisecond), (took / churnTotal).Round(time.Microsecond))
	t.Logf("daemon before: %d fds, %d goroutines, %.1f MiB heap, %.1f MiB RSS",
		before.FDs, before.Goroutines, mib(before.HeapBytes), mib(before.RSSBytes))
	t.Logf("daemon after:  %d fds, %d goroutines, %.1f MiB heap, %.1f MiB RSS",
		after.FDs, after.Goroutines, mib(after.HeapBytes), mib(after.RSSBytes))

	t.Run("resources", func(t *testing.T) {
		if after.FDs > before.FDs || after.Goroutines > before.Goroutines {
			t.Errorf("open files: %d before, %d after; goroutines: %d before, %d after",
				before.FDs, after.FDs, before.Goroutines, after.Goroutines)
		}
		if after.HeapBytes > before.HeapBytes+churnHeapMargin {
			t.Errorf("heap in use after collection: %.1f MiB before, %.1f MiB after", mib(before.HeapBytes), mib(after.HeapBytes))
		}
		if after.RSSBytes > before.RSSBytes+churnRSSMargin {
			t.Errorf("RSS after collection: %.1f MiB before, %.1f MiB after", mib(before.RSSBytes), mib(after.RSSBytes))
		}
	})
	t.Run("nothing left", func(t *testing.T) {
		if left := churnLeftovers(t, w, c.cl, c.seen); len(left) > 0 {
			t.Errorf("%d things left of the removed endpoints, first %s", len(left), strings.Join(left[:min(len(left), 10)], "; "))
		}
		if got := mapFill(status(t, w)); !equalJSON(got, maps0) {
			t.Errorf("map entries: %v before, %v after", maps0, got)
		}
		if got := linkNames(t, w, w.Node); got != links0 {
			t.Errorf("node devices: %s before, %s after", links0, got)
		}
		if got := pinNames(t, w); got != pins0 {
			t.Errorf("link pins: %s before, %s after", pins0, got)
		}
	})
	t.Run("addresses free", func(t *testing.T) {
		// Resuming after the last address handed out, wrapping past .62.
		want := c.last.Next()
		if want == netip.MustParseAddr("10.30.0.63") {
			want = netip.MustParseAddr("10.30.0.2")
		}
		if got := newEndpoint(t, w, w.Name("after"), "churn"); got != want {
			t.Errorf("the endpoint after the churn got %s, want %s", got, want)
		}
	})
}

// pinNames is the sorted names of the world's pinned links.
func pinNames(t *testing.T, w *world.World) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(w.BPFFS, "links"))
	if err != nil {
		t.Fatalf("list link pins: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// mapFill is how many entries each map holds but the flow maps, which
// the node's own traffic may change.
func mapFill(st api.Status) map[string]int {
	out := map[string]int{}
	for _, m := range st.Maps {
		if !strings.HasPrefix(m.Name, "enet_ct") && !strings.HasPrefix(m.Name, "enet_nat") {
			out[m.Name] = m.Entries
		}
	}
	return out
}

// churnLeftovers lists what of the removed endpoints remains: in the
// store, in enet_stats and enet_ct, and anything of ebpfnet's in the kernel
// the store does not know (devices, namespaces, pins, map entries, held
// ports).
func churnLeftovers(t *testing.T, w *world.World, cl *api.Client, seen map[string]api.Interface) []string {
	t.Helper()
	ctx := context.Background()
	left := inconsistencies(t, w)
	ifindex := map[int]string{}
	addr := map[string]string{}
	for name, i := range seen {
		ifindex[i.HostIfindex] = name
		addr[i.IP] = name
	}
	if eps, err := cl.Endpoints(ctx); err != nil || len(eps) != 0 {
		left = append(left, fmt.Sprintf("endpoints left: %d (%v)", len(eps), err))
	}
	if n := inspectNetwork(t, w, "churn"); len(n.Endpoints) != 0 {
		left = append(left, fmt.Sprintf("network churn still lists %v", n.Endpoints))
	}
	if ps, err := cl.Ports(ctx, ""); err != nil || len(ps) != 0 {
		left = append(left, fmt.Sprintf("publications left: %d (%v)", len(ps), err))
	}
	stats, err := cl.BPF().Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if name, ok := ifindex[s.Ifindex]; ok {
			left = append(left, fmt.Sprintf("enet_stats still counts %s on ifindex %d of %s", s.Reason, s.Ifindex, name))
		}
	}
	flows, err := cl.BPF().CT(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		for _, a := range []string{f.Src, f.Dst, f.ReplySrc, f.ReplyDst} {
			if ap, err := netip.ParseAddrPort(a); err == nil && addr[ap.Addr().String()] != "" {
				left = append(left, fmt.Sprintf("enet_ct still tracks %s %s -> %s of %s", f.Proto, f.Src, f.Dst, addr[ap.Addr().String()]))
			}
		}
	}
	return left
}
