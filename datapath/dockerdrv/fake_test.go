package dockerdrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/docker/go-plugins-helpers/network"
	"go.uber.org/zap/zaptest"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
)

// fakeControl is the orchestrator as the driver sees it: networks and
// endpoints by name, with Docker's ids; addresses unique on a network;
// publications as ports. It records every call that changes something,
// and fails the calls named in fail ("networks", "endpoints", "create
// endpoint", "remove endpoint", "remove network", "publish").
type fakeControl struct {
	mu      sync.Mutex
	nets    []api.Network
	eps     []api.Endpoint
	calls   []string
	creates []api.EndpointCreate
	fail    map[string]error
	next    uint16 // the next free host port
}

func newFake() *fakeControl { return &fakeControl{fail: map[string]error{}, next: 32768} }

func (f *fakeControl) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeControl) CreateNetwork(_ context.Context, req api.NetworkCreate) (*api.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create network %s", req.Name)
	if slices.ContainsFunc(f.nets, func(n api.Network) bool { return n.Name == req.Name }) {
		return nil, errdefs.Conflict("network %q exists", req.Name)
	}
	n := api.Network{Name: req.Name, Subnet: req.Subnet, Gateway: req.Gateway, Internal: req.Internal,
		DockerID: req.DockerID, Endpoints: []string{}}
	f.nets = append(f.nets, n)
	return &n, nil
}

func (f *fakeControl) Networks(context.Context) ([]api.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["networks"]; err != nil {
		return nil, err
	}
	return slices.Clone(f.nets), nil
}

func (f *fakeControl) Network(_ context.Context, name string) (*api.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["networks"]; err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.nets, func(n api.Network) bool { return n.Name == name })
	if i < 0 {
		return nil, errdefs.NotFound("network %q not found", name)
	}
	n := f.nets[i]
	return &n, nil
}

func (f *fakeControl) Endpoint(_ context.Context, name string) (*api.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["endpoints"]; err != nil {
		return nil, err
	}
	i := f.endpoint(name)
	if i < 0 {
		return nil, errdefs.NotFound("endpoint %q not found", name)
	}
	return clone(f.eps[i]), nil
}

func (f *fakeControl) RemoveNetwork(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove network %s", name)
	if err := f.fail["remove network"]; err != nil {
		return err
	}
	i := slices.IndexFunc(f.nets, func(n api.Network) bool { return n.Name == name })
	if i < 0 {
		return errdefs.NotFound("network %q not found", name)
	}
	f.nets = slices.Delete(f.nets, i, i+1)
	return nil
}

func (f *fakeControl) CreateEndpoint(_ context.Context, req api.EndpointCreate) (*api.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create endpoint %s", req.Name)
	f.creates = append(f.creates, req)
	if err := f.fail["create endpoint"]; err != nil {
		return nil, err
	}
	i := slices.IndexFunc(f.nets, func(n api.Network) bool { return n.Name == req.Network })
	if i < 0 {
		return nil, errdefs.NotFound("network %q not found", req.Network)
	}
	if f.endpoint(req.Name) >= 0 {
		return nil, errdefs.Conflict("endpoint %q exists", req.Name)
	}
	used := func(ip string) bool {
		for _, ep := range f.eps {
			for _, ifc := range ep.Interfaces {
				if ifc.Network == req.Network && ifc.IP == ip {
					return true
				}
			}
		}
		return false
	}
	ip := req.IP
	if ip == "" {
		a := netip.MustParsePrefix(f.nets[i].Subnet).Addr().Next().Next()
		for used(a.String()) {
			a = a.Next()
		}
		ip = a.String()
	} else if used(ip) {
		return nil, errdefs.Conflict("address %s is already in use on network %q", ip, req.Network)
	}
	mac := req.MAC
	if mac == "" {
		b := netip.MustParseAddr(ip).As4()
		mac = fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
	}
	ep := api.Endpoint{Name: req.Name, DockerID: req.DockerID, Handoff: req.Handoff, State: "ready", OnGone: req.OnGone,
		Interfaces: []api.Interface{{Network: req.Network, Name: req.Ifname, IP: ip, MAC: mac, HostName: "ve-" + req.Name}},
		Ports:      []api.Port{}}
	f.eps = append(f.eps, ep)
	return clone(ep), nil
}

func (f *fakeControl) endpoint(name string) int {
	return slices.IndexFunc(f.eps, func(ep api.Endpoint) bool { return ep.Name == name })
}

func clone(ep api.Endpoint) *api.Endpoint {
	ep.Interfaces, ep.Ports = slices.Clone(ep.Interfaces), slices.Clone(ep.Ports)
	return &ep
}

func (f *fakeControl) Endpoints(context.Context) ([]api.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail["endpoints"]; err != nil {
		return nil, err
	}
	out := make([]api.Endpoint, len(f.eps))
	for i := range f.eps {
		out[i] = *clone(f.eps[i])
	}
	return out, nil
}

func (f *fakeControl) RemoveEndpoint(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("remove endpoint %s", name)
	if err := f.fail["remove endpoint"]; err != nil {
		return err
	}
	i := f.endpoint(name)
	if i < 0 {
		return errdefs.NotFound("endpoint %q not found", name)
	}
	f.eps = slices.Delete(f.eps, i, i+1)
	return nil
}

// Publish takes a free port for a spec with none, the first of the range
// for a range with one container port.
func (f *fakeControl) Publish(_ context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("publish %s %s", endpoint, strings.Join(req.Specs, " "))
	if err := f.fail["publish"]; err != nil {
		return nil, err
	}
	i := f.endpoint(endpoint)
	if i < 0 {
		return nil, errdefs.NotFound("endpoint %q not found", endpoint)
	}
	var out []api.Port
	for _, s := range req.Specs {
		sp, err := portspec.Parse(s)
		if err != nil {
			return nil, errdefs.Invalid("%v", err)
		}
		for _, m := range sp.Mappings() {
			p := api.Port{Endpoint: endpoint, Proto: m.Proto, HostIP: "0.0.0.0", HostPort: m.HostPort, ContainerPort: m.CPort}
			if m.HostIP.IsValid() {
				p.HostIP = m.HostIP.String()
			}
			switch {
			case sp.PickOne():
				p.HostPort = sp.HostFirst
			case p.HostPort == 0:
				p.HostPort = f.next
				f.next++
			}
			out = append(out, p)
		}
	}
	f.eps[i].Ports = append(f.eps[i].Ports, out...)
	return out, nil
}

func (f *fakeControl) Unpublish(_ context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("unpublish %s %s", endpoint, strings.Join(req.Specs, " "))
	i := f.endpoint(endpoint)
	if i < 0 {
		return nil, errdefs.NotFound("endpoint %q not found", endpoint)
	}
	var specs []portspec.Spec
	for _, s := range req.Specs {
		sp, err := portspec.Parse(s)
		if err != nil {
			return nil, errdefs.Invalid("%v", err)
		}
		specs = append(specs, sp)
	}
	var gone, kept []api.Port
	for _, p := range f.eps[i].Ports {
		m := portspec.Mapping{Proto: p.Proto, HostPort: p.HostPort, CPort: p.ContainerPort}
		if ip := netip.MustParseAddr(p.HostIP); !ip.IsUnspecified() {
			m.HostIP = ip
		}
		if slices.ContainsFunc(specs, func(sp portspec.Spec) bool { return sp.Matches(m) }) {
			gone = append(gone, p)
		} else {
			kept = append(kept, p)
		}
	}
	if len(gone) == 0 {
		return nil, errdefs.NotFound("no publication of %q matches %s", endpoint, strings.Join(req.Specs, " "))
	}
	f.eps[i].Ports = kept
	return gone, nil
}

// add puts an endpoint in, as another client or an earlier dockerd made it.
func (f *fakeControl) add(ep api.Endpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eps = append(f.eps, ep)
}

// ep is the endpoint of that name, or nil.
func (f *fakeControl) ep(name string) *api.Endpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.endpoint(name); i >= 0 {
		return clone(f.eps[i])
	}
	return nil
}

// log is the calls so far, and forgets them.
func (f *fakeControl) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeControl) networks() []api.Network {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nets)
}

func (f *fakeControl) created() []api.EndpointCreate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.creates)
}

// Docker's ids: 64 hex digits.
var (
	netID   = strings.Repeat("a1", 32)
	net2ID  = strings.Repeat("a2", 32)
	epID    = strings.Repeat("b1", 32)
	ep2ID   = strings.Repeat("b2", 32)
	staleID = strings.Repeat("c1", 32)
)

func newDriver(t *testing.T) (*Driver, *fakeControl) {
	f := newFake()
	return New(f, zaptest.NewLogger(t)), f
}

func netReq(id, subnet, gateway string, opts map[string]any) *network.CreateNetworkRequest {
	return &network.CreateNetworkRequest{NetworkID: id, Options: opts,
		IPv4Data: []*network.IPAMData{{AddressSpace: "LocalDefault", Pool: subnet, Gateway: gateway}}}
}

// withNetwork is a driver with Docker's network netID, 10.20.0.0/24.
func withNetwork(t *testing.T, opts map[string]any) (*Driver, *fakeControl) {
	t.Helper()
	d, f := newDriver(t)
	if err := d.CreateNetwork(netReq(netID, "10.20.0.0/24", "10.20.0.1/24", opts)); err != nil {
		t.Fatal(err)
	}
	f.log()
	return d, f
}

func epReq(id, address, mac string) *network.CreateEndpointRequest {
	return &network.CreateEndpointRequest{NetworkID: netID, EndpointID: id,
		Interface: &network.EndpointInterface{Address: address, MacAddress: mac}}
}

// wantErr fails unless err is of the kind, says what a driver method's
// errors say first, and holds the text.
func wantErr(t *testing.T, what string, err, kind error, text string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v", what, kind)
	case kind != nil && !errors.Is(err, kind):
		t.Errorf("%s: %v is %v, want %v", what, err, errdefs.KindOf(err), kind)
	case !strings.HasPrefix(err.Error(), "ebpfnet: "):
		t.Errorf("%s: %q does not start with \"ebpfnet: \"", what, err)
	case !strings.Contains(err.Error(), text):
		t.Errorf("%s: %q does not say %q", what, err, text)
	}
}

// state is what the fake holds, networks and endpoints with their ports,
// as text to compare.
func (f *fakeControl) state() string {
	eps, _ := f.Endpoints(context.Background())
	raw, _ := json.Marshal(struct {
		N []api.Network
		E []api.Endpoint
	}{f.networks(), eps})
	return string(raw)
}
