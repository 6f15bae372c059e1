package control

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

func handoff(name, ifname string) api.EndpointCreate {
	return api.EndpointCreate{Name: name, Network: "web", Handoff: true, Ifname: ifname, DockerID: name + "-id",
		OnGone: store.OnGoneRemove}
}

// TestHandoffCreate: a handoff endpoint has no namespace; its far end is
// made in the node under the name asked for, and nothing configures it
// (its runtime does); the datapath knows it as any endpoint.
func TestHandoffCreate(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	ep, err := r.CreateEndpoint(ctx, handoff("d1", "dk0123"))
	if err != nil {
		t.Fatal(err)
	}
	if ep.Netns != "" || !ep.Handoff || ep.DockerID != "d1-id" || ep.Interfaces[0].Name != "dk0123" {
		t.Errorf("endpoint %+v", ep)
	}
	if !r.dev.LinkExists("dk0123") || !r.dev.LinkExists(ep.Interfaces[0].HostName) {
		t.Errorf("links %v: want the far end dk0123 and the host side in the node", r.dev.links)
	}
	if n := r.dev.called("ConfigureInside"); n != 0 {
		t.Errorf("ConfigureInside called %d times for a handoff", n)
	}
	if _, ok := r.dp.endpoints[netip.MustParseAddr(ep.Interfaces[0].IP)]; !ok {
		t.Errorf("enet_endpoints lacks %s", ep.Interfaces[0].IP)
	}
}

// TestHandoffRefused: what a handoff cannot be, and what ebpfnet will not
// do to one its runtime wires.
func TestHandoffRefused(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	mustNetwork(t, r, "db", "10.1.0.0/24")
	r.dev.add("taken0", "")
	for _, c := range []struct {
		name string
		req  api.EndpointCreate
		kind error
	}{
		{"a netns too", func() api.EndpointCreate { q := handoff("x1", "dkx1"); q.Netns = "/proc/1/ns/net"; return q }(), errdefs.ErrInvalid},
		{"no far end name", handoff("x2", ""), errdefs.ErrInvalid},
		{"far end name taken", handoff("x3", "taken0"), errdefs.ErrConflict},
		{"two networks", func() api.EndpointCreate {
			q := handoff("x4", "dkx4")
			q.Networks = []api.EndpointNetwork{{Name: "web"}, {Name: "db"}}
			return q
		}(), errdefs.ErrInvalid},
	} {
		if _, err := r.CreateEndpoint(ctx, c.req); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
	}
	if _, err := r.CreateEndpoint(ctx, handoff("d1", "dk1")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Connect(ctx, "db", api.Connect{Endpoint: "d1"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("connect of a handoff: %v", err)
	}
	if _, err := r.Disconnect(ctx, "web", api.Connect{Endpoint: "d1"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("disconnect of a handoff: %v", err)
	}
	if _, err := r.Attach(ctx, "d1", api.Attach{}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("attach of a handoff: %v", err)
	}
}

// TestHandoffFollowsItsSandbox: a handoff endpoint lives while its host
// side does. Deleted (its sandbox went with the far end in it), it is
// removed, as OnGone remove says; one that went while the daemon was
// away is removed at the start, and one still there is restored.
func TestHandoffFollowsItsSandbox(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	for _, name := range []string{"d1", "d2", "d3"} {
		if _, err := r.CreateEndpoint(ctx, handoff(name, "dk"+name)); err != nil {
			t.Fatal(err)
		}
	}
	host := func(name string) string { return r.state(t, name).Interfaces[0].HostName }
	gone := func(name string) {
		h := host(name)
		idx := r.dev.links[h].Index
		delete(r.dev.links, h)
		delete(r.dev.links, "dk"+name)
		r.LinkGone(netdev.LinkEvent{Name: h, Index: idx})
	}
	gone("d1")
	if ep := r.state(t, "d1"); ep != nil {
		t.Errorf("d1 is left after its sandbox went: %+v", ep)
	}
	// d2's sandbox goes while the daemon is away.
	h2 := host("d2")
	delete(r.dev.links, h2)
	if err := r.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if ep := r.state(t, "d2"); ep != nil {
		t.Errorf("d2 is left after a start without its host side: %+v", ep)
	}
	if ep := r.state(t, "d3"); ep == nil || ep.State != store.StateReady || !r.dev.LinkExists(host("d3")) {
		t.Errorf("d3 after the start: %+v", ep)
	}
	// A start that cannot plug d3's host side back keeps it: it lives.
	r.dev.fail = map[string]bool{"PlugVeth": true}
	_ = r.Reconcile()
	if ep := r.state(t, "d3"); ep == nil || ep.State != store.StateReady {
		t.Errorf("d3 after a start that failed to plug it: %+v, want it kept", ep)
	}
}
