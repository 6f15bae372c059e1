package control

import (
	"fmt"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Issue 11, found 9: an endpoint's JSON, listed or inspected, and what
// connect and disconnect answer, carry its publications, whether
// published at create or after; [] when it has none.
func TestEndpointViewsCarryPorts(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	mustNetwork(t, r, "db", "10.1.0.0/24")
	p1, p2 := freePort(t), freePort(t)
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web",
		Publish: []string{fmt.Sprintf("127.0.0.1:%d:80", p1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, "api", api.Publish{Specs: []string{fmt.Sprintf("127.0.0.1:%d:53/udp", p2)}}); err != nil {
		t.Fatal(err)
	}
	bare, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "bare", Network: "web"})
	if err != nil || bare.Ports == nil || len(bare.Ports) != 0 {
		t.Fatalf("create without ports: %+v, %v", bare, err)
	}
	want := fmt.Sprintf("[53/udp 127.0.0.1:%d 10.0.0.2:53 80/tcp 127.0.0.1:%d 10.0.0.2:80]", p2, p1)
	check := func(what string, ep *api.Endpoint, want string) {
		t.Helper()
		var got []string
		for _, p := range ep.Ports {
			got = append(got, fmt.Sprintf("%d/%s %s:%d %s", p.ContainerPort, p.Proto, p.HostIP, p.HostPort, p.Target))
		}
		if fmt.Sprint(got) != want {
			t.Errorf("%s: ports %v, want %s", what, got, want)
		}
	}
	ep, err := r.Endpoint(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	check("inspect", ep, want)
	eps, err := r.Endpoints(ctx)
	if err != nil || len(eps) != 2 {
		t.Fatalf("ls: %+v, %v", eps, err)
	}
	check("ls", &eps[0], want)
	if eps[1].Ports == nil || len(eps[1].Ports) != 0 {
		t.Errorf("ls of an endpoint without ports: %+v", eps[1].Ports)
	}
	if ep, err = r.Connect(ctx, "db", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	check("connect", ep, want)
	if ep, err = r.Disconnect(ctx, "web", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	check("disconnect", ep, fmt.Sprintf("[53/udp 127.0.0.1:%d 10.1.0.2:53 80/tcp 127.0.0.1:%d 10.1.0.2:80]", p2, p1))
}
