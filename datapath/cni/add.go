package cni

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Add attaches a container to a network: the container's first
// attachment creates its endpoint, with its publications, in one step;
// another connects the endpoint to one more network and publishes what
// the endpoint does not publish yet. An ADD repeated for an attachment
// that exists answers what it has.
func (s *Service) Add(ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkAttach(req, true); err != nil {
		return nil, err
	}
	specs, err := portSpecs(req.PortMappings)
	if err != nil {
		return nil, err
	}
	ep, err := s.find(ctx, req.ContainerID)
	if err != nil {
		return nil, err
	}
	// A container whose namespace went without a DEL (it died, the
	// runtime restarts it in a new one): its endpoint goes, and the ADD
	// starts afresh.
	if ep != nil && ep.State == "gone" {
		if err := s.ctl.RemoveEndpoint(ctx, ep.Name); err != nil && !notFound(err) {
			return nil, err
		}
		ep = nil
	}
	if ep == nil {
		return s.create(ctx, req, specs)
	}
	return s.connect(ctx, ep, req, specs)
}

// create makes the container's endpoint, with its publications, in one
// step.
func (s *Service) create(ctx context.Context, req api.CNIAttach, specs []string) (*api.CNIResult, error) {
	name, err := s.newName(ctx, req)
	if err != nil {
		return nil, err
	}
	ep, err := s.ctl.CreateEndpoint(ctx, api.EndpointCreate{
		Name: name, ContainerID: req.ContainerID, Netns: req.Netns,
		Networks: []api.EndpointNetwork{{Name: req.Network, IP: req.IP, Ifname: req.Ifname, MAC: req.MAC, Aliases: req.Aliases}},
		Publish:  specs, PublishUnheld: true, DNS: req.DNS,
	})
	if err != nil {
		return nil, err
	}
	return s.result(ctx, ep, req.Ifname)
}

// connect gives the container's endpoint an interface on one more
// network, and publishes what it does not publish yet.
func (s *Service) connect(ctx context.Context, ep *api.Endpoint, req api.CNIAttach, specs []string) (*api.CNIResult, error) {
	if ep.Netns != req.Netns {
		return nil, errdefs.Conflict("container %s is attached in %s, not %s", req.ContainerID, ep.Netns, req.Netns)
	}
	if i, ok := ifaceNamed(ep, req.Ifname); ok {
		if ep.Interfaces[i].Network != req.Network {
			return nil, errdefs.Conflict("interface %s of container %s is on network %q already",
				req.Ifname, req.ContainerID, ep.Interfaces[i].Network)
		}
		return s.result(ctx, ep, req.Ifname)
	}
	ep, err := s.ctl.Connect(ctx, req.Network, api.Connect{Endpoint: ep.Name, IP: req.IP, Ifname: req.Ifname, MAC: req.MAC})
	if err != nil {
		return nil, err
	}
	if more := unpublished(ep, specs, req.PortMappings); len(more) > 0 {
		if _, err := s.ctl.Publish(ctx, ep.Name, api.Publish{Specs: more, Unheld: true}); err != nil {
			// Undo the connect: ADD failed, and the runtime will not DEL
			// what it was not told of.
			if _, undo := s.ctl.Disconnect(ctx, req.Network, api.Connect{Endpoint: ep.Name}); undo != nil {
				return nil, fmt.Errorf("%w (and undoing the connect: %w)", err, undo)
			}
			return nil, err
		}
	}
	return s.result(ctx, ep, req.Ifname)
}

// newName is the container's name if it may be an endpoint's and no
// endpoint has it, else a name made of its id.
func (s *Service) newName(ctx context.Context, req api.CNIAttach) (string, error) {
	if req.Name == "" || len(req.Name) > 64 || !idRE.MatchString(req.Name) {
		return endpointName(req.ContainerID), nil
	}
	eps, err := s.ctl.Endpoints(ctx)
	if err != nil {
		return "", err
	}
	for _, e := range eps {
		if e.Name == req.Name {
			return endpointName(req.ContainerID), nil
		}
	}
	return req.Name, nil
}

// portSpecs are the portMappings as Docker -p specs.
func portSpecs(pms []api.CNIPortMapping) ([]string, error) {
	var specs []string
	for _, pm := range pms {
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if pm.HostPort <= 0 || pm.HostPort > 65535 || pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
			return nil, errdefs.Invalid("port mapping %d:%d/%s: ports are 1-65535", pm.HostPort, pm.ContainerPort, proto)
		}
		spec := fmt.Sprintf("%d:%d/%s", pm.HostPort, pm.ContainerPort, proto)
		if pm.HostIP != "" && pm.HostIP != "0.0.0.0" {
			ip, err := netip.ParseAddr(pm.HostIP)
			if err != nil || !ip.Is4() {
				return nil, errdefs.Invalid("port mapping host ip %.40q is not an IPv4 address", pm.HostIP)
			}
			spec = ip.String() + ":" + spec
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// unpublished are the specs of the mappings the endpoint does not
// publish yet: a runtime passes a container's mappings with every
// network it attaches.
func unpublished(ep *api.Endpoint, specs []string, pms []api.CNIPortMapping) []string {
	var out []string
	for i, pm := range pms {
		hostIP := pm.HostIP
		if hostIP == "" {
			hostIP = "0.0.0.0"
		}
		proto := strings.ToLower(pm.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		have := false
		for _, p := range ep.Ports {
			if p.Proto == proto && p.HostIP == hostIP && int(p.HostPort) == pm.HostPort && int(p.ContainerPort) == pm.ContainerPort {
				have = true
				break
			}
		}
		if !have {
			out = append(out, specs[i])
		}
	}
	return out
}
