// Package cni is the daemon's side of the ebpfnet-cni plugin: a CNI
// attachment (container id, interface, network) made an endpoint, or an
// interface of one. A container's first attachment creates the endpoint
// in its namespace, the next ones connect it to more networks; DEL
// disconnects them, and the last removes it. Publications (the
// portMappings capability) belong to the endpoint, as ebpfnet's ports
// always do. The plugin holds no state: the endpoint records the
// container id.
package cni

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sync"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/resolver"
)

// Control is what the service asks of the orchestrator.
type Control interface {
	CreateEndpoint(ctx context.Context, req api.EndpointCreate) (*api.Endpoint, error)
	Endpoints(ctx context.Context) ([]api.Endpoint, error)
	Network(ctx context.Context, name string) (*api.Network, error)
	Connect(ctx context.Context, network string, req api.Connect) (*api.Endpoint, error)
	Disconnect(ctx context.Context, network string, req api.Connect) (*api.Endpoint, error)
	RemoveEndpoint(ctx context.Context, name string) error
	Publish(ctx context.Context, endpoint string, req api.Publish) ([]api.Port, error)
}

// Kernel is what CHECK reads: the interface inside the namespace, and
// the datapath's endpoint map.
type Kernel interface {
	Inside(netns, ifname string) (netdev.InsideState, error)
	BPFEndpoints(ctx context.Context) ([]api.BPFEndpoint, error)
}

// Service serves the plugin's calls, one at a time: each reads the
// endpoints, then changes them, and the orchestrator's lock covers one
// change only.
type Service struct {
	mu     sync.Mutex
	ctl    Control
	kernel Kernel
}

// New returns the service.
func New(ctl Control, kernel Kernel) *Service { return &Service{ctl: ctl, kernel: kernel} }

// idRE is the CNI spec's rule for container ids.
var idRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

func checkAttach(req api.CNIAttach, needNetns bool) error {
	switch {
	case req.ContainerID == "":
		return errdefs.Invalid("container id is empty")
	case !idRE.MatchString(req.ContainerID):
		return errdefs.Invalid("container id %.24q is invalid: letters, digits and _.- only", req.ContainerID)
	case req.Ifname == "":
		return errdefs.Invalid("interface name is empty")
	case req.Network == "":
		return errdefs.Invalid("network name is empty: set \"network\" in the plugin's config")
	case needNetns && req.Netns == "":
		return errdefs.Invalid("netns is empty")
	}
	return nil
}

// endpointName is the endpoint a container gets: its id, or a digest of
// an id longer than an endpoint name may be.
func endpointName(id string) string {
	if len(id) <= 64 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "cni-" + hex.EncodeToString(sum[:])[:32]
}

// find is the endpoint of a container, nil when it has none.
func (s *Service) find(ctx context.Context, id string) (*api.Endpoint, error) {
	eps, err := s.ctl.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	for i := range eps {
		if eps[i].ContainerID == id {
			return &eps[i], nil
		}
	}
	return nil, nil
}

func ifaceNamed(ep *api.Endpoint, ifname string) (int, bool) {
	for i, ifc := range ep.Interfaces {
		if ifc.Name == ifname {
			return i, true
		}
	}
	return 0, false
}

// result is the attachment's CNI result, read from the endpoint.
func (s *Service) result(ctx context.Context, ep *api.Endpoint, ifname string) (*api.CNIResult, error) {
	i, ok := ifaceNamed(ep, ifname)
	if !ok {
		return nil, fmt.Errorf("endpoint %q has no interface %s", ep.Name, ifname)
	}
	ifc := ep.Interfaces[i]
	n, err := s.ctl.Network(ctx, ifc.Network)
	if err != nil {
		return nil, err
	}
	subnet, err := netip.ParsePrefix(n.Subnet)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(ifc.IP)
	if err != nil {
		return nil, err
	}
	return &api.CNIResult{Endpoint: ep.Name, Ifname: ifc.Name, MAC: ifc.MAC, Sandbox: ep.Netns,
		Address: netip.PrefixFrom(ip, subnet.Bits()).String(), Gateway: n.Gateway, Default: i == 0, MTU: n.MTU,
		DNS: api.CNIDNS{Nameservers: []string{resolver.Stub}, Search: ep.DNS.Search, Options: ep.DNS.Options}}, nil
}

// notFound: the error says a thing is gone, which DEL takes as done.
func notFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
