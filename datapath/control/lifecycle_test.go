package control

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// adopted is a rig with network web and endpoint api adopting a namespace
// at /proc/4242/ns/net, publishing a port.
func adopted(t *testing.T, onGone string) (*rig, string) {
	t.Helper()
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	r.dev.netns["/proc/4242/ns/net"] = 77
	port := freePort(t)
	_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web", Netns: "/proc/4242/ns/net",
		OnGone: onGone, Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", port)}})
	if err != nil {
		t.Fatal(err)
	}
	return r, fmt.Sprintf("tcp/127.0.0.1/%d", port)
}

// stop is a container stopping: its namespace goes, and the veth with it.
func (r *rig) stop(t *testing.T, netns string) {
	t.Helper()
	delete(r.dev.netns, netns)
	for name, l := range r.dev.links {
		if strings.HasPrefix(l.Alias, "ebpfnet:endpoint:api:") {
			delete(r.dev.links, name)
			r.LinkGone(netdev.LinkEvent{Name: name, Index: l.Index})
		}
	}
}

func (r *rig) state(t *testing.T, name string) *store.Endpoint {
	t.Helper()
	var ep *store.Endpoint
	if err := r.store.View(func(tx *store.Tx) (err error) { ep, err = tx.Endpoint(name); return err }); err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestEndpointGone: the namespace going makes the endpoint gone: out of
// the datapath, its host ports let go, its address and publications
// kept; changes to it are refused naming it; a new namespace attached
// brings it back whole.
func TestEndpointGone(t *testing.T) {
	r, key := adopted(t, "")
	ip := netip.MustParseAddr("10.0.0.2")
	r.stop(t, "/proc/4242/ns/net")
	ep := r.state(t, "api")
	if ep == nil || ep.State != store.StateGone || ep.Interfaces[0].IP != ip {
		t.Fatalf("after the namespace went: %+v", ep)
	}
	if len(r.dp.endpoints)+len(r.dp.ifaces)+len(r.dp.attached) > 0 || r.dp.called("ForgetIface") == 0 {
		t.Fatalf("the datapath keeps %v %v %v (calls %v)", r.dp.endpoints, r.dp.ifaces, r.dp.attached, r.dp.log)
	}
	if _, ok := r.pub.active[key]; ok || r.pub.called("Release 1") != 1 {
		t.Fatalf("host port not released: %v", r.pub.log)
	}
	if _, _, pubs := r.stored(t); len(pubs) != 1 {
		t.Fatalf("publications %v: want kept", pubs)
	}
	for name, err := range map[string]error{
		"publish": func() error { _, err := r.Publish(ctx, "api", api.Publish{Specs: []string{"9090"}}); return err }(),
		"connect": func() error {
			mustNetwork(t, r, "db", "10.1.0.0/24")
			_, err := r.Connect(ctx, "db", api.Connect{Endpoint: "api"})
			return err
		}(),
	} {
		if errdefs.KindOf(err) != errdefs.KindConflict || !strings.Contains(fmt.Sprint(err), `endpoint "api" is gone`) {
			t.Errorf("%s on a gone endpoint: %v", name, err)
		}
	}
	r.dev.netns["/proc/5151/ns/net"] = 88
	got, err := r.Attach(ctx, "api", api.Attach{Netns: "/proc/5151/ns/net"})
	if err != nil || got.State != store.StateReady || got.Interfaces[0].IP != ip.String() {
		t.Fatalf("attach: %+v, %v", got, err)
	}
	if r.pub.active[key] != ip || len(r.dp.endpoints) != 1 {
		t.Fatalf("after attach: published %v, datapath %v", r.pub.active, r.dp.endpoints)
	}
	if _, err := r.Attach(ctx, "api", api.Attach{Netns: "/proc/5151/ns/net"}); errdefs.KindOf(err) != errdefs.KindConflict {
		t.Fatalf("attach to a ready endpoint: %v", err)
	}
}

// TestEndpointGoneRemove: with on-gone remove, the endpoint goes whole.
func TestEndpointGoneRemove(t *testing.T) {
	r, key := adopted(t, store.OnGoneRemove)
	r.stop(t, "/proc/4242/ns/net")
	if ep := r.state(t, "api"); ep != nil {
		t.Fatalf("endpoint %+v stays", ep)
	}
	if _, eps, pubs := r.stored(t); len(eps)+len(pubs) > 0 || len(r.pub.active) > 0 || r.pub.active[key].IsValid() {
		t.Fatalf("left: %v %v %v", eps, pubs, r.pub.active)
	}
}

// TestVethDeletedNamespaceLives: a host veth deleted while its namespace
// lives is made again; the endpoint stays ready.
func TestVethDeletedNamespaceLives(t *testing.T) {
	r, _ := adopted(t, "")
	for name, l := range r.dev.links {
		if strings.HasPrefix(l.Alias, "ebpfnet:endpoint:api:") {
			delete(r.dev.links, name)
			r.LinkGone(netdev.LinkEvent{Name: name, Index: l.Index})
			if !r.dev.LinkExists(name) {
				t.Fatalf("veth %s not made again", name)
			}
		}
	}
	if ep := r.state(t, "api"); ep.State != store.StateReady {
		t.Fatalf("endpoint %s after its veth was deleted", ep.State)
	}
}

// TestLostEvents: events the kernel dropped are made up by a look at
// every endpoint.
func TestLostEvents(t *testing.T) {
	r, _ := adopted(t, "")
	delete(r.dev.netns, "/proc/4242/ns/net")
	for name, l := range r.dev.links {
		if strings.HasPrefix(l.Alias, "ebpfnet:endpoint:api:") {
			delete(r.dev.links, name)
		}
	}
	r.LinkGone(netdev.LinkEvent{Lost: true})
	if ep := r.state(t, "api"); ep.State != store.StateGone {
		t.Fatalf("endpoint %s after lost events", ep.State)
	}
}
