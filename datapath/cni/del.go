package cni

import (
	"context"
	"fmt"
	"slices"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Del detaches a container from a network, and removes its endpoint with
// its last interface, or when its namespace is gone (the runtime DELs
// each network of a container that died). A DEL of what is not there
// succeeds, as the spec wants: the container may be gone, the daemon may
// have restarted, the ADD may have failed.
func (s *Service) Del(ctx context.Context, req api.CNIAttach) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := checkAttach(req, false); err != nil {
		return err
	}
	ep, err := s.find(ctx, req.ContainerID)
	if err != nil || ep == nil {
		return err
	}
	return s.detach(ctx, ep, req.Ifname)
}

// detach removes the endpoint's interface ifname, or the endpoint.
func (s *Service) detach(ctx context.Context, ep *api.Endpoint, ifname string) error {
	i, ok := ifaceNamed(ep, ifname)
	if !ok {
		return nil
	}
	if len(ep.Interfaces) == 1 || ep.State == "gone" {
		if err := s.ctl.RemoveEndpoint(ctx, ep.Name); err != nil && !notFound(err) {
			return err
		}
		return nil
	}
	if _, err := s.ctl.Disconnect(ctx, ep.Interfaces[i].Network, api.Connect{Endpoint: ep.Name}); err != nil && !notFound(err) {
		return fmt.Errorf("disconnect %s of container %s: %w", ifname, ep.ContainerID, err)
	}
	return nil
}

// GC removes the attachments on a network that are not among the valid
// ones, and reports them.
func (s *Service) GC(ctx context.Context, req api.CNIGC) (*api.CNIGCReport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Network == "" {
		return nil, checkAttach(api.CNIAttach{ContainerID: "x", Ifname: "x"}, false)
	}
	eps, err := s.ctl.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	report := &api.CNIGCReport{Removed: []string{}}
	for i := range eps {
		ep := &eps[i]
		if ep.ContainerID == "" {
			continue // not a CNI attachment: ebpfnet's own, or Docker's
		}
		for _, ifc := range ep.Interfaces {
			valid := slices.Contains(req.Valid, api.CNIAttachment{ContainerID: ep.ContainerID, Ifname: ifc.Name})
			if ifc.Network != req.Network || valid {
				continue
			}
			if err := s.detach(ctx, ep, ifc.Name); err != nil {
				return report, err
			}
			report.Removed = append(report.Removed, ep.ContainerID+"/"+ifc.Name)
			if ep, err = s.find(ctx, ep.ContainerID); err != nil || ep == nil {
				break
			}
		}
	}
	return report, err
}
