package control

import (
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

func TestModeEndpoints(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.1.0.0/24")
	for _, req := range []api.EndpointCreate{
		{Name: "api", Network: "web"},
		{Name: "batch", Network: "none"},
		{Name: "agent", Network: "host"},
		{Name: "side", Network: "container:api"},
		{Name: "side2", Network: "container:side"},
	} {
		if _, err := r.CreateEndpoint(ctx, req); err != nil {
			t.Fatalf("%s: %v", req.Name, err)
		}
	}
	if r.dev.called("LoopbackUp") != 1 || r.dev.netns["/run/netns/batch"] == 0 || r.dev.netns["/run/netns/agent"] != 0 {
		t.Fatalf("none gets a namespace with lo up, host none: %v %v", r.dev.log, r.dev.netns)
	}
	side, err := r.Endpoint(ctx, "side2")
	if err != nil || side.Mode != "container:api" || side.Netns != "/run/netns/api" || len(side.Interfaces) != 1 {
		t.Fatalf("side2 shares api's namespace, not side's: %+v, %v", side, err)
	}
	list, err := r.Endpoints(ctx)
	if err != nil || !equalViews(list, "side", side.Interfaces) {
		t.Fatalf("the listing's side: %+v, %v", list, err)
	}
	if err := r.RemoveEndpoint(ctx, "api"); errdefs.KindOf(err) != errdefs.KindConflict ||
		!strings.Contains(err.Error(), "side, side2") {
		t.Fatalf("remove api with sharers: %v", err)
	}
	rm, err := NewRemover(r.Control).ForceRemoveEndpoint(ctx, "api")
	if err != nil || strings.Join(rm.Sharers, ",") != "side,side2" {
		t.Fatalf("force remove api: %+v, %v", rm, err)
	}
	if _, eps, _ := r.stored(t); strings.Join(eps, " ") != "agent: batch:" {
		t.Fatalf("left: %v", eps)
	}
}

func equalViews(list []api.Endpoint, name string, ifs []api.Interface) bool {
	for _, e := range list {
		if e.Name == name {
			return len(e.Interfaces) == len(ifs) && e.Interfaces[0].IP == ifs[0].IP
		}
	}
	return false
}

// A crash between removing an owner and its sharers leaves sharers of
// nobody: the start-up removes them; a none endpoint's namespace is made
// again if it went.
func TestReconcileModes(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.1.0.0/24")
	for _, req := range []api.EndpointCreate{
		{Name: "api", Network: "web"}, {Name: "side", Network: "container:api"}, {Name: "batch", Network: "none"},
	} {
		if _, err := r.CreateEndpoint(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.store.Update(func(tx *store.Tx) error { return tx.DeleteEndpoint("api") }); err != nil {
		t.Fatal(err)
	}
	delete(r.dev.netns, "/run/netns/batch")
	if err := r.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, eps, _ := r.stored(t); strings.Join(eps, " ") != "batch:" {
		t.Fatalf("after the start-up: %v", eps)
	}
	if r.dev.netns["/run/netns/batch"] == 0 {
		t.Fatal("batch's namespace was not made again")
	}
}

// An owner whose namespace goes with on-gone remove takes its sharers.
func TestOwnerGoneTakesSharers(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.1.0.0/24")
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web", OnGone: store.OnGoneRemove}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "side", Network: "container:api"}); err != nil {
		t.Fatal(err)
	}
	api, _ := r.Endpoint(ctx, "api")
	host := api.Interfaces[0].HostName
	delete(r.dev.netns, "/run/netns/api")
	delete(r.dev.links, host)
	r.LinkGone(netdev.LinkEvent{Name: host})
	if _, eps, _ := r.stored(t); len(eps) != 0 {
		t.Fatalf("left: %v", eps)
	}
}
