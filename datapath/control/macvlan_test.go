package control

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

func macvlanReq(name, parent string, opts ...string) api.NetworkCreate {
	req := api.NetworkCreate{Name: name, Driver: "macvlan", Subnet: "192.0.2.0/24",
		Options: map[string]string{"parent": parent}}
	for i := 0; i+1 < len(opts); i += 2 {
		req.Options[opts[i]] = opts[i+1]
	}
	return req
}

func TestMacvlanPlan(t *testing.T) {
	r := newRig(t)
	r.dev.add("eth1", "")
	n, err := r.CreateNetwork(ctx, macvlanReq("lan", "eth1"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Driver != "macvlan" || n.Mode != "bridge" || n.Bridge != "" || n.Masquerade || n.MTU != 1500 {
		t.Fatalf("lan: %+v", n)
	}
	if r.dev.called("ProbeSub") != 1 || r.dev.called("EnsureBridge") != 0 || len(r.dp.networks) != 0 {
		t.Fatalf("a macvlan network has a probe and nothing of the datapath's: %v, %v", r.dev.log, r.dp.networks)
	}
	ep, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "a", Network: "lan"})
	if err != nil {
		t.Fatal(err)
	}
	sub := r.dev.subs["/run/netns/a/eth0"]
	if sub.Kind != "macvlan" || sub.Parent != "eth1" || sub.MAC.String() != ep.Interfaces[0].MAC || ep.Interfaces[0].HostName != "" {
		t.Fatalf("a's device %+v, view %+v", sub, ep.Interfaces[0])
	}
	if len(r.dp.endpoints) != 0 || r.dev.called("EnsureVeth") != 0 {
		t.Fatalf("the datapath knows a macvlan endpoint: %v", r.dp.endpoints)
	}
	if err := r.RemoveEndpoint(ctx, "a"); err != nil || len(r.dev.subs) != 0 {
		t.Fatalf("remove a: %v; left %v", err, r.dev.subs)
	}
}

func TestMacvlanParents(t *testing.T) {
	r := newRig(t)
	r.dev.add("eth1", "")
	if _, err := r.CreateNetwork(ctx, macvlanReq("lan10", "eth1.10")); err != nil {
		t.Fatal(err)
	}
	if l := r.dev.links["eth1.10"]; l.Alias != netdev.ParentAlias("lan10") {
		t.Fatalf("eth1.10 not made as ebpfnet's: %+v", l)
	}
	if err := r.RemoveNetwork(ctx, "lan10"); err != nil || r.dev.LinkExists("eth1.10") {
		t.Fatalf("remove lan10: %v; eth1.10 left: %v", err, r.dev.LinkExists("eth1.10"))
	}
	req := macvlanReq("inside", "")
	delete(req.Options, "parent")
	req.Internal = true
	n, err := r.CreateNetwork(ctx, req)
	if err != nil || !strings.HasPrefix(n.Parent, "dm-") || !r.dev.LinkExists(n.Parent) {
		t.Fatalf("internal macvlan: %+v, %v", n, err)
	}
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "a", Network: "inside"}); err != nil {
		t.Fatal(err)
	}
	if r.dev.called("ConfigureInside") != 1 {
		t.Fatalf("ConfigureInside: %v", r.dev.log)
	}
	for _, l := range r.dev.log {
		if strings.HasPrefix(l, "ConfigureInside eth0") && !strings.HasSuffix(l, "invalid IP") {
			t.Fatalf("an internal macvlan endpoint got a default route: %s", l)
		}
	}
}

func TestMacvlanKernelFeatures(t *testing.T) {
	r := newRig(t)
	r.dev.add("eth1", "")
	r.dev.missing = map[string]bool{"ipvlan": true, "vlan": true}
	for _, req := range []api.NetworkCreate{
		{Name: "l2", Driver: "ipvlan", Subnet: "192.0.3.0/24", Options: map[string]string{"parent": "eth1"}},
		macvlanReq("lan10", "eth1.10"),
	} {
		_, err := r.CreateNetwork(ctx, req)
		if errdefs.KindOf(err) != errdefs.KindUnavailable || !strings.Contains(err.Error(), "CONFIG_") {
			t.Fatalf("%s: %v, want unavailable naming the kernel option", req.Name, err)
		}
		if nets, _, _ := r.stored(t); len(nets) != 0 {
			t.Fatalf("%s stored after its creation failed: %v", req.Name, nets)
		}
	}
}

func TestMacvlanEndpoints(t *testing.T) {
	r := newRig(t)
	r.dev.add("eth1", "")
	r.dev.add("eth2", "")
	if _, err := r.CreateNetwork(ctx, macvlanReq("pt", "eth1", "macvlan_mode", "passthru")); err != nil {
		t.Fatal(err)
	}
	req := api.NetworkCreate{Name: "l2", Driver: "ipvlan", Subnet: "192.0.3.0/24", Options: map[string]string{"parent": "eth2"},
		AuxAddresses: map[string]string{"gw2": "192.0.3.2"}}
	if _, err := r.CreateNetwork(ctx, req); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  api.EndpointCreate
		kind errdefs.Kind
		msg  string
	}{
		{api.EndpointCreate{Name: "x", Network: "pt", MAC: "02:00:00:00:00:01"}, errdefs.KindInvalid, "takes its parent's MAC"},
		{api.EndpointCreate{Name: "x", Network: "l2", MAC: "02:00:00:00:00:01"}, errdefs.KindInvalid, "takes its parent's MAC"},
		{api.EndpointCreate{Name: "x", Network: "l2", IP: "192.0.3.2"}, errdefs.KindConflict, "reserved on network \"l2\" (aux-address gw2)"},
		{api.EndpointCreate{Name: "x", Network: "l2", Publish: []string{"8080:80"}}, errdefs.KindConflict, "on the LAN directly"},
	} {
		_, err := r.CreateEndpoint(ctx, c.req)
		if errdefs.KindOf(err) != c.kind || err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: %v, want %v %q", c.req, err, c.kind, c.msg)
		}
	}
	a, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "a", Network: "pt"})
	if err != nil || a.Interfaces[0].MAC != fakeParentMAC.String() || r.dev.subs["/run/netns/a/eth0"].MAC != nil {
		t.Fatalf("passthru endpoint: %+v, %v: want the parent's MAC, none set", a, err)
	}
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "b", Network: "pt"}); errdefs.KindOf(err) != errdefs.KindLimit {
		t.Fatalf("a second passthru endpoint: %v", err)
	}
	b, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "b", Network: "l2"})
	if err != nil || b.Interfaces[0].IP == "192.0.3.2" || b.Interfaces[0].MAC != fakeParentMAC.String() {
		t.Fatalf("ipvlan endpoint: %+v, %v", b, err)
	}
}

// A publication follows its endpoint's first interface only onto a bridge
// network; with a macvlan one first, it is parked.
func TestMacvlanParksPorts(t *testing.T) {
	r := newRig(t)
	r.dev.add("eth1", "")
	mustNetwork(t, r, "web", "10.1.0.0/24")
	if _, err := r.CreateNetwork(ctx, macvlanReq("lan", "eth1")); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "a", Networks: []api.EndpointNetwork{{Name: "web"}, {Name: "lan"}},
		Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", port)}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.Disconnect(ctx, "web", api.Connect{Endpoint: "a"})
	if err != nil || len(v.Ports) != 1 || len(r.pub.active) != 0 || r.pub.called("Withdraw") == 0 {
		t.Fatalf("after disconnecting web: %+v, %v; active %v", v, err, r.pub.active)
	}
}

func TestBridgedOnly(t *testing.T) {
	nets := []store.Network{{Name: "web"}, {Name: "lan", Driver: store.DriverMacvlan}}
	eps := []store.Endpoint{{Name: "a", Interfaces: []store.Interface{{Network: "lan"}, {Network: "web"}}}}
	n, e := bridgedOnly(nets, eps)
	if len(n) != 1 || n[0].Name != "web" || len(e[0].Interfaces) != 1 || e[0].Interfaces[0].Network != "web" {
		t.Fatalf("bridgedOnly: %+v %+v", n, e)
	}
	if len(eps[0].Interfaces) != 2 {
		t.Fatal("bridgedOnly changed its input")
	}
}

func TestPlanAux(t *testing.T) {
	r := newRig(t)
	for aux, msg := range map[string]string{
		"10.9.0.0":   "network or broadcast",
		"10.9.0.255": "network or broadcast",
		"10.9.0.1":   "is the gateway",
		"10.8.0.5":   "outside the subnet",
		"x":          "not an IPv4 address",
	} {
		_, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: "n", Subnet: "10.9.0.0/24", AuxAddresses: map[string]string{"r": aux}})
		if errdefs.KindOf(err) != errdefs.KindInvalid || !strings.Contains(err.Error(), msg) {
			t.Errorf("aux-address %s: %v, want %q", aux, err, msg)
		}
	}
	_, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: "n", Subnet: "10.9.0.0/30", AuxAddresses: map[string]string{"r": "10.9.0.2"}})
	if err != nil {
		t.Fatal(err)
	}
	// The /30 has one address left for endpoints, 10.9.0.2, and it is reserved.
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "a", Network: "n"}); errdefs.KindOf(err) != errdefs.KindLimit {
		t.Fatalf("an endpoint on a network whose one free address is reserved: %v", err)
	}
}
