package cni

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
)

// fakeControl holds endpoints as the API shows them, and records calls.
type fakeControl struct {
	eps   []api.Endpoint
	calls []string
	fail  map[string]error
}

func (f *fakeControl) CreateEndpoint(_ context.Context, req api.EndpointCreate) (*api.Endpoint, error) {
	f.calls = append(f.calls, "create "+req.Name)
	if err := f.fail["create"]; err != nil {
		return nil, err
	}
	n := req.Networks[0]
	ep := api.Endpoint{Name: req.Name, ContainerID: req.ContainerID, Netns: req.Netns, State: "ready",
		Interfaces: []api.Interface{{Network: n.Name, Name: n.Ifname, IP: "10.0.0.2", MAC: "02:00:00:00:00:02"}}}
	f.eps = append(f.eps, ep)
	return &ep, nil
}

func (f *fakeControl) Endpoints(context.Context) ([]api.Endpoint, error) {
	if err := f.fail["endpoints"]; err != nil {
		return nil, err
	}
	return f.eps, nil
}

func (f *fakeControl) Network(_ context.Context, name string) (*api.Network, error) {
	return &api.Network{Name: name, Subnet: "10.0.0.0/24", Gateway: "10.0.0.1", MTU: 1500}, nil
}

func (f *fakeControl) Connect(_ context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	f.calls = append(f.calls, "connect "+req.Endpoint+" "+network)
	for i := range f.eps {
		if f.eps[i].Name == req.Endpoint {
			f.eps[i].Interfaces = append(f.eps[i].Interfaces, api.Interface{Network: network, Name: req.Ifname, IP: "10.0.0.3"})
			return &f.eps[i], nil
		}
	}
	return nil, errdefs.NotFound("endpoint %q not found", req.Endpoint)
}

func (f *fakeControl) Disconnect(_ context.Context, network string, req api.Connect) (*api.Endpoint, error) {
	f.calls = append(f.calls, "disconnect "+req.Endpoint+" "+network)
	return nil, nil
}

func (f *fakeControl) RemoveEndpoint(_ context.Context, name string) error {
	f.calls = append(f.calls, "remove "+name)
	return nil
}

func (f *fakeControl) Publish(_ context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	f.calls = append(f.calls, "publish "+endpoint+" "+strings.Join(req.Specs, ","))
	return nil, f.fail["publish"]
}

type noKernel struct{}

func (noKernel) Inside(string, string) (netdev.InsideState, error)       { return netdev.InsideState{}, nil }
func (noKernel) BPFEndpoints(context.Context) ([]api.BPFEndpoint, error) { return nil, nil }

var ctx = context.Background()

func attach(id, netns, ifname, network string, pms ...api.CNIPortMapping) api.CNIAttach {
	return api.CNIAttach{ContainerID: id, Netns: netns, Ifname: ifname, Network: network, PortMappings: pms}
}

// An ADD is refused before anything is made when the request is bad, the
// container is in another namespace, or its interface name is on another
// network; a connect whose publication fails is undone.
func TestAddRefuses(t *testing.T) {
	f := &fakeControl{eps: []api.Endpoint{{Name: "c1", ContainerID: "c1", Netns: "/run/netns/a", State: "ready",
		Interfaces: []api.Interface{{Network: "web", Name: "eth0", IP: "10.0.0.2"}}}}}
	s := New(f, noKernel{})
	for _, tc := range []struct {
		req  api.CNIAttach
		want string
		kind error
	}{
		{attach("", "/n", "eth0", "web"), "container id is empty", errdefs.ErrInvalid},
		{attach("a/b", "/n", "eth0", "web"), "is invalid", errdefs.ErrInvalid},
		{attach("c2", "", "eth0", "web"), "netns is empty", errdefs.ErrInvalid},
		{attach("c2", "/n", "eth0", ""), "set \"network\"", errdefs.ErrInvalid},
		{attach("c2", "/n", "eth0", "web", api.CNIPortMapping{HostPort: 0, ContainerPort: 80}), "ports are 1-65535", errdefs.ErrInvalid},
		{attach("c2", "/n", "eth0", "web", api.CNIPortMapping{HostPort: 80, ContainerPort: 80, HostIP: "::1"}), "not an IPv4", errdefs.ErrInvalid},
		{attach("c1", "/run/netns/b", "net1", "db"), "attached in /run/netns/a", errdefs.ErrConflict},
		{attach("c1", "/run/netns/a", "eth0", "db"), "is on network \"web\" already", errdefs.ErrConflict},
	} {
		_, err := s.Add(ctx, tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.kind) {
			t.Errorf("%+v: %v, want %v saying %q", tc.req, err, tc.kind, tc.want)
		}
	}
	if len(f.calls) != 0 {
		t.Fatalf("refused ADDs called %v", f.calls)
	}
	f.fail = map[string]error{"publish": errdefs.Conflict("port is already allocated")}
	_, err := s.Add(ctx, attach("c1", "/run/netns/a", "net1", "db", api.CNIPortMapping{HostPort: 8080, ContainerPort: 80}))
	if err == nil || strings.Join(f.calls, "; ") != "connect c1 db; publish c1 8080:80/tcp; disconnect c1 db" {
		t.Fatalf("a connect whose publish failed: %v, calls %v", err, f.calls)
	}
}

// Port mappings become Docker specs; those the endpoint publishes already
// are not published again on the next network's ADD.
func TestPortSpecs(t *testing.T) {
	pms := []api.CNIPortMapping{{HostPort: 8080, ContainerPort: 80}, {HostPort: 5353, ContainerPort: 53, Protocol: "UDP", HostIP: "127.0.0.1"}}
	specs, err := portSpecs(pms)
	if err != nil || strings.Join(specs, " ") != "8080:80/tcp 127.0.0.1:5353:53/udp" {
		t.Fatalf("specs %v, %v", specs, err)
	}
	ep := &api.Endpoint{Ports: []api.Port{{Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80}}}
	if more := unpublished(ep, specs, pms); strings.Join(more, " ") != "127.0.0.1:5353:53/udp" {
		t.Fatalf("unpublished %v", more)
	}
}

// A container id longer than an endpoint name may be gets a digest name;
// a name the runtime passes is taken when free.
func TestNames(t *testing.T) {
	long := strings.Repeat("a", 65)
	if n := endpointName(long); len(n) > 64 || !strings.HasPrefix(n, "cni-") || n != endpointName(long) {
		t.Fatalf("name of a long id: %q", n)
	}
	f := &fakeControl{eps: []api.Endpoint{{Name: "web"}}}
	s := New(f, noKernel{})
	for _, tc := range []struct{ name, want string }{{"api", "api"}, {"web", "cid"}, {"a/b", "cid"}, {"", "cid"}} {
		got, err := s.newName(ctx, api.CNIAttach{ContainerID: "cid", Name: tc.name})
		if err != nil || got != tc.want {
			t.Errorf("name %q: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}
