package control

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Issue 11, found 7: an endpoint created on several networks gets an
// interface on each, in order: eth0 with the default route on the first,
// eth1, eth2 on the others.
func TestCreateEndpointOnNetworks(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "a", "10.0.0.0/24")
	mustNetwork(t, r, "b", "10.1.0.0/24")
	mustNetwork(t, r, "c", "10.2.0.0/24")
	ep, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "x",
		Networks: []api.EndpointNetwork{{Name: "b"}, {Name: "a", IP: "10.0.0.9"}, {Name: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range ep.Interfaces {
		got = append(got, i.Name+"="+i.IP+"("+i.Network+")")
	}
	if want := []string{"eth0=10.1.0.2(b)", "eth1=10.0.0.9(a)", "eth2=10.2.0.2(c)"}; !slices.Equal(got, want) {
		t.Fatalf("interfaces %v, want %v", got, want)
	}
	if _, eps, _ := r.stored(t); !slices.Equal(eps, []string{"x:b,a,c,"}) {
		t.Fatalf("store holds %v", eps)
	}
	// The gateway is the first network's alone.
	routes := 0
	for _, l := range r.dev.log {
		if strings.HasPrefix(l, "ConfigureInside ") && !strings.HasSuffix(l, " invalid IP") {
			routes++
			if !strings.HasPrefix(l, "ConfigureInside eth0 10.1.0.2/24 10.1.0.1") {
				t.Fatalf("a default route on another interface: %s", l)
			}
		}
	}
	if routes != 1 || len(r.dp.endpoints) != 3 {
		t.Fatalf("%d default routes, %d datapath endpoints; calls %v", routes, len(r.dp.endpoints), r.dev.log)
	}
	// Each network's cursor moved: the next endpoint gets the next address.
	next, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "y", Network: "c"})
	if err != nil || next.Interfaces[0].IP != "10.2.0.3" {
		t.Fatalf("next on c: %+v, %v", next, err)
	}
}

// Issue 11, found 7: a create on several networks is atomic: if any
// network refuses, or the kernel fails on any interface, nothing of the
// endpoint is left, in the store or in the kernel.
func TestCreateEndpointOnNetworksRollsBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nets  []api.EndpointNetwork
		fail  string // a kernel call that fails
		kind  errdefs.Kind
		error string
	}{
		{"no such network", []api.EndpointNetwork{{Name: "a"}, {Name: "nope"}}, "", errdefs.KindNotFound, `network "nope" not found`},
		{"a network twice", []api.EndpointNetwork{{Name: "a"}, {Name: "b"}, {Name: "a"}}, "", errdefs.KindInvalid,
			`network "a" is specified multiple times`},
		{"the default network twice", []api.EndpointNetwork{{Name: "a"}, {Name: "bridge"}, {Name: "bridge"}}, "", errdefs.KindInvalid,
			`network "bridge" is specified multiple times`},
		{"an address in use", []api.EndpointNetwork{{Name: "a"}, {Name: "b", IP: "10.1.0.2"}}, "", errdefs.KindConflict, "already in use"},
		{"an address outside", []api.EndpointNetwork{{Name: "a"}, {Name: "b", IP: "10.9.0.2"}}, "", errdefs.KindInvalid, "outside the subnet"},
		{"an empty name", []api.EndpointNetwork{{Name: "a"}, {}}, "", errdefs.KindInvalid, "networks[1]: network name is empty"},
		{"the kernel on the last interface", []api.EndpointNetwork{{Name: "a"}, {Name: "b"}, {Name: "bridge"}},
			"ConfigureInside eth2", 0, "injected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if err := r.EnsureDefaultNetwork(); err != nil {
				t.Fatal(err)
			}
			mustNetwork(t, r, "a", "10.0.0.0/24")
			mustNetwork(t, r, "b", "10.1.0.0/24")
			if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "old", Network: "b"}); err != nil {
				t.Fatal(err)
			}
			devices := len(r.dev.links)
			r.dev.fail[tc.fail] = tc.fail != ""
			_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "x", Networks: tc.nets,
				Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", freePort(t))}})
			if err == nil || !strings.Contains(err.Error(), tc.error) || (tc.kind != 0 && errdefs.KindOf(err) != tc.kind) {
				t.Fatalf("got %v (kind %v), want %v %q", err, errdefs.KindOf(err), tc.kind, tc.error)
			}
			if _, eps, pubs := r.stored(t); !slices.Equal(eps, []string{"old:b,"}) || len(pubs) > 0 {
				t.Fatalf("store holds %v %v", eps, pubs)
			}
			if len(r.dp.endpoints) != 1 || len(r.dev.links) != devices || len(r.dev.netns) != 1 {
				t.Fatalf("kernel keeps %v %v %v", r.dp.endpoints, r.dev.links, r.dev.netns)
			}
			// A refused plan does not move the networks' cursors either (a
			// rollback keeps them where they went, as a removal does).
			if tc.fail != "" {
				return
			}
			if next, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "y", Network: "a"}); err != nil || next.Interfaces[0].IP != "10.0.0.2" {
				t.Fatalf("next on a: %+v, %v", next, err)
			}
		})
	}
}

// Issue 11: network and ip go with one network, networks with several.
func TestFirstNetwork(t *testing.T) {
	_, _, err := firstNetwork(api.EndpointCreate{Name: "x", Network: "a", Networks: []api.EndpointNetwork{{Name: "b"}}})
	if errdefs.KindOf(err) != errdefs.KindInvalid {
		t.Fatalf("network with networks: %v", err)
	}
	first, rest, err := firstNetwork(api.EndpointCreate{Name: "x", Networks: []api.EndpointNetwork{{Name: "a", IP: "1.2.3.4"}, {Name: "b"}}})
	if err != nil || first.Network != "a" || first.IP != "1.2.3.4" || first.Networks != nil || len(rest) != 1 || rest[0].Name != "b" {
		t.Fatalf("got %+v %+v %v", first, rest, err)
	}
}
