package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// poolOf is a network's use of its limits as `ebpfnet status` reports it.
func poolOf(t *testing.T, st api.Status, network string) api.NetworkUse {
	t.Helper()
	for _, u := range st.Pools {
		if u.Network == network {
			return u
		}
	}
	t.Fatalf("status has no pool of network %s: %+v", network, st.Pools)
	return api.NetworkUse{}
}

// hasRow says whether a table in out has a row of exactly these columns.
func hasRow(out string, cols ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if slices.Equal(strings.Fields(l), cols) {
			return true
		}
	}
	return false
}

// Issue 6, point 7: a full address pool refuses the next endpoint with a
// 409 that says so, and `ebpfnet status` shows the pool full and warns.
func TestFullAddressPool(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "small", "--subnet", "10.40.0.0/29") // .2 to .6
	for i, name := range []string{"e1", "e2", "e3", "e4", "e5"} {
		w.MustCLI("endpoint", "create", w.Name(name), "--network", "small")
		u := poolOf(t, status(t, w), "small")
		if u.Addresses != i+1 || u.FreeAddresses != 4-i || u.BridgePorts != i+1 || u.MaxBridgePorts != 1023 {
			t.Fatalf("after %d endpoints: %+v", i+1, u)
		}
	}
	mustFailCLI(t, w, `network "small" has no free address left: its 5 endpoint addresses of 10.40.0.0/29 are all taken`,
		"endpoint", "create", w.Name("e6"), "--network", "small")
	out := w.MustCLI("status")
	if !hasRow(out, "small", "10.40.0.0/29", "5", "0", "5/1023") {
		t.Errorf("status has no row: small 10.40.0.0/29, 5 addresses, 0 free, 5/1023 bridge ports:\n%s", out)
	}
	if want := "warning: network small has no free address in 10.40.0.0/29: new endpoints on it are refused"; !strings.Contains(out, want) {
		t.Errorf("status does not warn %q:\n%s", want, out)
	}
	// A freed address is given out again.
	w.MustCLI("endpoint", "rm", w.Name("e3"))
	w.MustCLI("endpoint", "create", w.Name("e6"), "--network", "small")
	if u := poolOf(t, status(t, w), "small"); u.Addresses != 5 || u.FreeAddresses != 0 {
		t.Fatalf("after a removal and a create: %+v", u)
	}
}

// Issue 6, point 7: with enet_ct far smaller than the flows through it,
// every new flow still gets in (the LRU evicts the least recently used),
// every flow still works, and the packets of flows whose entries were
// evicted are counted and shown by `ebpfnet status`.
func TestFullConntrackTable(t *testing.T) {
	t.Parallel()
	const ctMax, flows = 16, 40
	w := newWorld(t, "--ct-max", "16", "--nat-max", "1024")
	w.MustCLI("network", "create", "web", "--subnet", "10.41.0.0/24")
	a := w.Name("a")
	newEndpoint(t, w, a, "web")
	startServer(t, w.Ext, extServer)
	conns := make([]*net.UDPConn, flows)
	for i := range conns {
		c, err := dialUDP(a, fromPort(uint16(21000+i)), extServer)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	for round := range 2 {
		for i, c := range conns {
			seen, err := ask(c)
			if err != nil || seen.Port() != uint16(21000+i) {
				t.Fatalf("round %d, flow %d: seen from %s: %v", round, i, seen, err)
			}
		}
	}
	st := status(t, w)
	for _, m := range st.Maps {
		if m.Name == "enet_ct" && (m.Entries > ctMax || m.MaxEntries != ctMax) {
			t.Errorf("enet_ct holds %d of %d entries", m.Entries, m.MaxEntries)
		}
	}
	// Of the 40 flows at most 16 kept their entry through the first
	// round, so the second round met at least 24 evicted ones.
	if st.Evicted < flows-ctMax {
		t.Errorf("status counts %d packets of evicted flows, want at least %d\n%s",
			st.Evicted, flows-ctMax, w.MustCLI("bpf", "stats"))
	}
	if n := counted(t, w, a, "flow-evicted"); n != st.Evicted {
		t.Errorf("bpf stats count %d flow-evicted on %s, status %d", n, a, st.Evicted)
	}
	out := w.MustCLI("status")
	if !strings.Contains(out, "packets came for flows evicted from a full enet_ct or enet_nat") {
		t.Errorf("status does not warn of the evictions:\n%s", out)
	}
}

// Issue 6, point 7: a Linux bridge takes at most 1,023 ports (BR_MAX_PORTS,
// port 0 reserved). The daemon fills one for real, then refuses the next
// endpoint with a 409 that names the limit, rather than failing in the
// kernel half way; status shows the bridge full.
func TestBridgePortLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "big", "--subnet", "10.42.0.0/21")
	cl := api.NewClient(w.Socket)
	t.Cleanup(cl.Close)
	ctx := context.Background()
	start := time.Now()
	for i := range 1023 {
		if _, err := cl.CreateEndpoint(ctx, api.EndpointCreate{Name: w.Name(fmt.Sprint("p", i)), Network: "big"}); err != nil {
			t.Fatalf("endpoint %d of 1023: %v", i+1, err)
		}
	}
	t.Logf("1023 endpoints created in %v", time.Since(start).Round(time.Millisecond))
	_, err := cl.CreateEndpoint(ctx, api.EndpointCreate{Name: w.Name("one-more"), Network: "big"})
	if api.Code(err) != http.StatusConflict || !strings.Contains(fmt.Sprint(err), "is full, a Linux bridge takes at most 1023 ports") {
		t.Fatalf("the 1024th endpoint: %d %v; want a 409 naming the bridge's limit", api.Code(err), err)
	}
	bridge := inspectNetwork(t, w, "big").Bridge
	ports := 0
	for _, l := range links(t, w, w.Node) {
		if l.Master == bridge {
			ports++
		}
	}
	if ports != 1023 {
		t.Errorf("bridge %s has %d ports, want 1023", bridge, ports)
	}
	if u := poolOf(t, status(t, w), "big"); u.BridgePorts != 1023 || u.MaxBridgePorts != 1023 {
		t.Errorf("status shows %d/%d bridge ports, want 1023/1023", u.BridgePorts, u.MaxBridgePorts)
	}
	if _, err := os.Stat("/run/netns/" + w.Name("one-more")); err == nil {
		t.Errorf("the refused endpoint left its netns")
	}
}
