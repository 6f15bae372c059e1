package cni

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Check says whether an attachment is as ADD left it, against the
// kernel: the endpoint ready, the interface inside its namespace up with
// its address and MAC (and the default route, on the first), the
// datapath's map holding its address at the host end. It answers the
// attachment, for the plugin to compare with prevResult.
func (s *Service) Check(ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkAttach(req, true); err != nil {
		return nil, err
	}
	ep, err := s.find(ctx, req.ContainerID)
	if err != nil {
		return nil, err
	}
	if ep == nil {
		return nil, errdefs.NotFound("container %s has no attachment", req.ContainerID)
	}
	if ep.State != "ready" {
		return nil, errdefs.Unavailable("endpoint %q of container %s is %s", ep.Name, req.ContainerID, ep.State)
	}
	i, ok := ifaceNamed(ep, req.Ifname)
	if !ok || ep.Interfaces[i].Network != req.Network {
		return nil, errdefs.NotFound("container %s has no interface %s on network %q", req.ContainerID, req.Ifname, req.Network)
	}
	if ep.Netns != req.Netns {
		return nil, errdefs.Conflict("container %s is attached in %s, not %s", req.ContainerID, ep.Netns, req.Netns)
	}
	res, err := s.result(ctx, ep, req.Ifname)
	if err != nil {
		return nil, err
	}
	if err := s.checkInside(res); err != nil {
		return nil, err
	}
	return res, s.checkMap(ctx, ep.Interfaces[i])
}

func (s *Service) checkInside(res *api.CNIResult) error {
	in, err := s.kernel.Inside(res.Sandbox, res.Ifname)
	if err != nil {
		return errdefs.NotFound("%v", err)
	}
	addr := netip.MustParsePrefix(res.Address)
	switch {
	case !in.Up:
		return fmt.Errorf("%s in %s is down", res.Ifname, res.Sandbox)
	case in.MAC != res.MAC:
		return fmt.Errorf("%s in %s has MAC %s, not %s", res.Ifname, res.Sandbox, in.MAC, res.MAC)
	case !slices.Contains(in.Addrs, addr):
		return fmt.Errorf("%s in %s has addresses %v, not %s", res.Ifname, res.Sandbox, in.Addrs, addr)
	case res.Default && in.Gateway.String() != res.Gateway:
		return fmt.Errorf("%s in %s has no default route via %s", res.Ifname, res.Sandbox, res.Gateway)
	}
	return nil
}

func (s *Service) checkMap(ctx context.Context, ifc api.Interface) error {
	entries, err := s.kernel.BPFEndpoints(ctx)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IP == ifc.IP {
			if e.Ifindex != ifc.HostIfindex || ifc.HostIfindex == 0 {
				return fmt.Errorf("enet_endpoints sends %s to ifindex %d, its veth %s is %d", ifc.IP, e.Ifindex, ifc.HostName, ifc.HostIfindex)
			}
			return nil
		}
	}
	return fmt.Errorf("enet_endpoints has no entry for %s", ifc.IP)
}
