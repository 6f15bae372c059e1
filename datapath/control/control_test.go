package control

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
)

var ctx = context.Background()

// freePort is a TCP port of 127.0.0.1 nothing holds now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// held says whether some socket holds 127.0.0.1:port, as a reservation does.
func held(port uint16) bool {
	res, _, err := ports.Reserve("tcp", netip.MustParseAddr("127.0.0.1"), port)
	if err != nil {
		return true
	}
	_ = res.Close()
	return false
}

func mustNetwork(t *testing.T, r *rig, name, subnet string) {
	t.Helper()
	if _, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: name, Subnet: subnet}); err != nil {
		t.Fatal(err)
	}
}

func TestPlanNetwork(t *testing.T) {
	cases := []struct {
		name    string
		req     api.NetworkCreate
		setup   func(r *rig)
		subnet  string // what the network gets
		kind    errdefs.Kind
		message string
	}{
		{name: "default pool skips the node's routes",
			req:    api.NetworkCreate{Name: "a"},
			setup:  func(r *rig) { r.dev.prefixes = []netip.Prefix{netip.MustParsePrefix("172.17.5.0/24")} },
			subnet: "172.18.0.0/16"},
		{name: "overlap", req: api.NetworkCreate{Name: "b", Subnet: "10.1.0.0/16"},
			setup: func(r *rig) { mustNetwork(t, r, "a", "10.1.2.0/24") },
			kind:  errdefs.KindConflict, message: `subnet 10.1.0.0/16 overlaps network "a" (10.1.2.0/24)`},
		{name: "device exists", req: api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24", Bridge: "br9"},
			setup: func(r *rig) { r.dev.add("br9", "") },
			kind:  errdefs.KindConflict, message: "a device named br9 already exists"},
		{name: "the uplink's subnet", req: api.NetworkCreate{Name: "b", Subnet: "198.51.100.0/24"},
			setup: func(r *rig) { r.dev.prefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")} },
			kind:  errdefs.KindConflict, message: "overlaps the node's route 198.51.100.0/24 dev up0"},
		{name: "inside a route", req: api.NetworkCreate{Name: "b", Subnet: "10.8.1.0/24"},
			setup: func(r *rig) { r.dev.prefixes = []netip.Prefix{netip.MustParsePrefix("10.8.0.0/16")} },
			kind:  errdefs.KindConflict, message: "overlaps the node's route 10.8.0.0/16"},
		{name: "loopback", req: api.NetworkCreate{Name: "b", Subnet: "127.0.0.0/24"},
			kind: errdefs.KindInvalid, message: "overlaps loopback (127.0.0.0/8)"},
		{name: "link-local", req: api.NetworkCreate{Name: "b", Subnet: "169.254.10.0/24"},
			kind: errdefs.KindInvalid, message: "link-local"},
		{name: "multicast", req: api.NetworkCreate{Name: "b", Subnet: "239.1.0.0/16"},
			kind: errdefs.KindInvalid, message: "multicast"},
		{name: "a neighbour holds its gateway", req: api.NetworkCreate{Name: "b", Subnet: "10.9.0.0/24"},
			setup: func(r *rig) {
				r.dev.neigh = []netdev.Neighbour{{Addr: netip.MustParseAddr("10.9.0.1"), MAC: "02:00:00:00:00:01", Device: "eth9"}}
			},
			kind: errdefs.KindConflict, message: "10.9.0.1, one of its first addresses, is in use on the node's link eth9"},
		{name: "a neighbour further in is fine", req: api.NetworkCreate{Name: "b", Subnet: "10.9.0.0/24"},
			setup: func(r *rig) {
				r.dev.neigh = []netdev.Neighbour{{Addr: netip.MustParseAddr("10.9.0.200"), MAC: "02:00:00:00:00:01", Device: "eth9"}}
			},
			subnet: "10.9.0.0/24"},
		{name: "pools full", req: api.NetworkCreate{Name: "b"},
			setup: func(r *rig) { r.dev.prefixes = []netip.Prefix{netip.MustParsePrefix("128.0.0.0/1")} },
			kind:  errdefs.KindLimit, message: "no free subnet left"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if tc.setup != nil {
				tc.setup(r)
			}
			n, err := r.CreateNetwork(ctx, tc.req)
			if tc.message != "" {
				if errdefs.KindOf(err) != tc.kind || !strings.Contains(fmt.Sprint(err), tc.message) {
					t.Fatalf("got %v (kind %v), want %v %q", err, errdefs.KindOf(err), tc.kind, tc.message)
				}
				if r.dev.called("EnsureBridge "+tc.req.Bridge) > 0 {
					t.Fatal("a refused plan touched the kernel")
				}
				return
			}
			if err != nil || n.Subnet != tc.subnet {
				t.Fatalf("got %+v, %v; want subnet %s", n, err, tc.subnet)
			}
		})
	}
}

// TestCreateNetworkRollsBack: a bridge the kernel refuses leaves neither
// the network in the store nor its map entries; a teardown that fails too
// is logged, saying what repairs it.
func TestCreateNetworkRollsBack(t *testing.T) {
	for _, failTeardown := range []bool{false, true} {
		t.Run(fmt.Sprint("teardown fails=", failTeardown), func(t *testing.T) {
			r := newRig(t)
			r.dp.fail["PutNetwork"] = true
			r.dev.fail["DeleteOwned"] = failTeardown
			_, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: "web", Subnet: "10.0.0.0/24"})
			if err == nil {
				t.Fatal("created")
			}
			if nets, _, _ := r.stored(t); len(nets) > 0 {
				t.Fatalf("store holds %v after rollback", nets)
			}
			if len(r.dp.networks) > 0 || r.dp.called("DeleteNetwork") != 1 {
				t.Fatalf("map entries %v; calls %v", r.dp.networks, r.dp.log)
			}
			if r.dp.called("AttachBridge") != 1 || len(r.dp.bridges) > 0 {
				t.Fatalf("enet_to_br left on %v; calls %v", r.dp.bridges, r.dp.log)
			}
			left := r.logs.FilterMessageSnippet("rollback left kernel objects of network web behind").Len()
			if failTeardown != (left == 1) {
				t.Fatalf("rollback-failure logs: %d, teardown failing: %v", left, failTeardown)
			}
			if failTeardown != r.dev.LinkExists(r.bridgeOf(t)) {
				t.Fatalf("bridge left behind: %v, teardown failing: %v", r.dev.links, failTeardown)
			}
		})
	}
}

// bridgeOf finds the bridge a failed create made, from the fake's calls.
func (r *rig) bridgeOf(t *testing.T) string {
	t.Helper()
	for _, l := range r.dev.log {
		if name, ok := strings.CutPrefix(l, "EnsureBridge "); ok {
			return name
		}
	}
	t.Fatal("no bridge was made")
	return ""
}

// TestCreateEndpointRollsBack: a failure at any step of the kernel's part
// leaves no endpoint, no publication and no reservation, and nothing of
// the endpoint in the kernel.
func TestCreateEndpointRollsBack(t *testing.T) {
	for _, step := range []string{"CreateNetns", "EnsureVeth", "PutIface", "AttachEndpoint", "PlugVeth",
		"ConfigureInside", "PutEndpoint"} {
		t.Run(step, func(t *testing.T) {
			r := newRig(t)
			mustNetwork(t, r, "web", "10.0.0.0/24")
			port := freePort(t)
			r.dev.fail[step], r.dp.fail[step] = true, true
			_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web",
				Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", port)}})
			if err == nil {
				t.Fatal("created")
			}
			if _, eps, pubs := r.stored(t); len(eps)+len(pubs) > 0 {
				t.Fatalf("store holds %v %v after rollback", eps, pubs)
			}
			if held(port) {
				t.Fatalf("host port %d still held", port)
			}
			if len(r.dp.endpoints)+len(r.dp.ifaces)+len(r.dp.attached)+len(r.dev.netns) > 0 {
				t.Fatalf("kernel keeps %v %v %v %v", r.dp.endpoints, r.dp.ifaces, r.dp.attached, r.dev.netns)
			}
			if n := len(r.dev.links); n != 1 {
				t.Fatalf("devices %v: want the bridge only", r.dev.links)
			}
		})
	}
}

// TestPublishRollsBack: when the datapath refuses a publication at create
// or publish, the store does not keep it and the host port is free.
func TestPublishRollsBack(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	port := freePort(t)
	r.pub.fail["Activate"] = true
	_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web",
		Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", port)}})
	if err == nil {
		t.Fatal("created")
	}
	if _, eps, pubs := r.stored(t); len(eps)+len(pubs) > 0 || held(port) {
		t.Fatalf("after a refused create: store %v %v, port held %v", eps, pubs, held(port))
	}
	r.pub.fail["Activate"] = false
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web"}); err != nil {
		t.Fatal(err)
	}
	r.pub.fail["Activate"] = true
	if _, err := r.Publish(ctx, "api", api.Publish{Specs: []string{fmt.Sprintf("127.0.0.1:%d:80", port)}}); err == nil {
		t.Fatal("published")
	}
	if _, _, pubs := r.stored(t); len(pubs) > 0 || held(port) {
		t.Fatalf("after a refused publish: store %v, port held %v", pubs, held(port))
	}
}

// TestConnectRollsBack: a second interface the kernel refuses goes from
// the store and the kernel; the first stays.
func TestConnectRollsBack(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	mustNetwork(t, r, "db", "10.1.0.0/24")
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web"}); err != nil {
		t.Fatal(err)
	}
	r.dev.fail["ConfigureInside"] = true
	if _, err := r.Connect(ctx, "db", api.Connect{Endpoint: "api"}); err == nil {
		t.Fatal("connected")
	}
	if _, eps, _ := r.stored(t); !slices.Equal(eps, []string{"api:web,"}) {
		t.Fatalf("store holds %v", eps)
	}
	if len(r.dp.endpoints) != 1 || r.dp.endpoints[netip.MustParseAddr("10.0.0.2")].IP.String() != "10.0.0.2" {
		t.Fatalf("datapath endpoints %v", r.dp.endpoints)
	}
}

// TestDisconnectMovesPublications: publications follow the endpoint's
// first interface to the next, and go with the last.
func TestDisconnectMovesPublications(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	mustNetwork(t, r, "db", "10.1.0.0/24")
	port := freePort(t)
	spec := fmt.Sprintf("127.0.0.1:%d:80", port)
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web", Publish: []string{spec}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Connect(ctx, "db", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("tcp/127.0.0.1/%d", port)
	if got := r.pub.active[key]; got.String() != "10.0.0.2" {
		t.Fatalf("published to %v", got)
	}
	if _, err := r.Disconnect(ctx, "web", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	if got := r.pub.active[key]; got.String() != "10.1.0.2" {
		t.Fatalf("after disconnecting eth0, published to %v; want eth1's 10.1.0.2", got)
	}
	if _, err := r.Disconnect(ctx, "db", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	if _, _, pubs := r.stored(t); len(pubs) != 1 || len(r.pub.active) > 0 {
		t.Fatalf("with no interface left: stored %v, in the datapath %v; want it parked: stored only", pubs, r.pub.active)
	}
	ps, err := r.Ports(ctx, "api")
	if err != nil || len(ps) != 1 || ps[0].Target != "" {
		t.Fatalf("a parked publication shows as %+v, %v", ps, err)
	}
	if _, err := r.Connect(ctx, "web", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	if got := r.pub.active[key]; got.String() != "10.0.0.3" {
		t.Fatalf("connected again, published to %v; want the new eth0's 10.0.0.3", got)
	}
}

// TestReconcile: stored objects are ensured, a removal cut short is
// finished, stray devices go, and the sweep is told what to keep.
func TestReconcile(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web"}); err != nil {
		t.Fatal(err)
	}
	stray := "enetvdead"
	r.dev.add(stray, "ebpfnet:endpoint:old:eth0")
	r.dev.add("eth0", "")
	clear(r.dp.endpoints)
	if err := r.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if r.dev.LinkExists(stray) || !r.dev.LinkExists("eth0") {
		t.Fatalf("devices after reconcile: %v", r.dev.links)
	}
	if len(r.dp.endpoints) != 1 {
		t.Fatalf("endpoint not restored: %v", r.dp.endpoints)
	}
	if r.dp.swept == nil || !r.dp.swept.Addrs[netip.MustParseAddr("10.0.0.2")] || len(r.dp.swept.Networks) != 1 {
		t.Fatalf("sweep told %+v", r.dp.swept)
	}
}
