package e2e

import (
	"errors"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 19, point 7: an endpoint connecting to a dead host on the uplink's
// link hears host unreachable once the node gives up resolving it, as
// with netfilter (about 3 s in both); a live host the node has not
// resolved yet is reached, masqueraded, and so is a client of a published
// port whose address the node has not resolved.
func TestHostUnreachable(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.31.0.0/24")
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "web")
	nfw := world.New(t, bin)
	nfEp, _ := newNFMasq(t, nfw, netip.MustParsePrefix("10.31.0.0/24"), "").endpoint(t, "a")
	dead := netip.MustParseAddrPort("198.51.100.99:7000")

	var wg sync.WaitGroup
	took := map[string]time.Duration{}
	errs := map[string]error{}
	var mu sync.Mutex
	for side, ns := range map[string]string{"ebpfnet": a, "netfilter": nfEp} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			c, err := dialTCP(ns, netip.AddrPort{}, dead, 15*time.Second)
			if err == nil {
				c.conn.Close()
			}
			mu.Lock()
			took[side], errs[side] = time.Since(start), err
			mu.Unlock()
		}()
	}
	wg.Wait()
	for side, err := range errs {
		if !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("%s: connect to the dead host %s after %s: %v, want EHOSTUNREACH", side, dead, took[side], err)
		}
	}
	t.Logf("EHOSTUNREACH after %s with ebpfnet, %s with netfilter", took["ebpfnet"].Round(time.Millisecond),
		took["netfilter"].Round(time.Millisecond))
	if counted(t, w, a, "to-bridge-unresolved") == 0 {
		t.Fatalf("no to-bridge-unresolved counted for %s:\n%s", a, w.MustCLI("bpf", "stats"))
	}

	// Live hosts the node has never resolved.
	for _, ip := range []string{"198.51.100.3/24", "198.51.100.4/24"} {
		w.MustExec(w.Ext, "ip", "addr", "add", ip, "dev", world.ExtDev)
	}
	live := netip.MustParseAddrPort("198.51.100.3:7000")
	startServer(t, w.Ext, live)
	before := counted(t, w, world.UplinkDev, "forward-masquerade")
	if c := mustDialTCP(t, a, netip.AddrPort{}, live); c.Seen.Addr() != world.NodeIP {
		t.Fatalf("%s saw the connection from %s, want %s", live, c.Seen, world.NodeIP)
	}
	if after := counted(t, w, world.UplinkDev, "forward-masquerade"); after <= before {
		t.Fatalf("the kernel routed no packet of the flow to %s that enet_to_up translated:\n%s", live, w.MustCLI("bpf", "stats"))
	}
	startServer(t, a, netip.AddrPortFrom(aIP, 80))
	w.MustCLI("publish", a, "8080:80")
	client := netip.MustParseAddrPort("198.51.100.4:41000")
	c, err := dialTCP(w.Ext, client, netip.AddrPortFrom(world.NodeIP, 8080), 5*time.Second)
	if err != nil {
		t.Fatalf("connect from %s to the published port: %v", client, err)
	}
	defer c.conn.Close()
	if c.Seen != client {
		t.Fatalf("the endpoint saw %s, want %s", c.Seen, client)
	}
	c.mustSend(t, 1000)
}
