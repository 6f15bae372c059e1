package dockerdrv

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
)

// peerName is the far end's name until Docker moves it into the sandbox
// and names it ethN there: fixed by the endpoint id, so a device left
// behind is recognisable.
func peerName(endpointID string) string { return "dk" + endpointID[:12] }

// CreateEndpoint makes the endpoint of a Docker endpoint: its veth pair,
// the host side on the network's bridge with enet_from_ep on it, the far
// end left in the node for Join to hand over. Docker's IPAM chose the
// address; the MAC is Docker's if it gave one, else ebpfnet's, which the
// answer carries. Repeated for an endpoint that exists, it answers the
// same.
func (d *Driver) CreateEndpoint(req *network.CreateEndpointRequest) (*network.CreateEndpointResponse, error) {
	var res *network.CreateEndpointResponse
	err := d.serve("create endpoint", req.EndpointID, func(ctx context.Context) (err error) {
		res, err = d.createEndpoint(ctx, req)
		return err
	})
	return res, err
}

func (d *Driver) createEndpoint(ctx context.Context, req *network.CreateEndpointRequest) (*network.CreateEndpointResponse, error) {
	if err := checkID("endpoint", req.EndpointID); err != nil {
		return nil, err
	}
	n, err := d.findNetwork(ctx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	in := req.Interface
	if in == nil {
		in = &network.EndpointInterface{}
	}
	if in.AddressIPv6 != "" {
		return nil, errdefs.Invalid("IPv6 is not supported: ebpfnet endpoints are IPv4 only")
	}
	ep, err := d.findEndpoint(ctx, req.EndpointID)
	if notFound(err) {
		ep, err = d.newEndpoint(ctx, req.EndpointID, n.Name, in)
		if errors.Is(err, errdefs.ErrConflict) {
			var dropped bool
			if dropped, err = d.dropStale(ctx, n.Name, in.Address, err); dropped {
				ep, err = d.newEndpoint(ctx, req.EndpointID, n.Name, in)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if ep.Interfaces[0].Network != n.Name {
		return nil, errdefs.Conflict("endpoint %s is on network %s, not %s", ep.Name, ep.Interfaces[0].Network, n.Name)
	}
	return createAnswer(in, ep, n), nil
}

// dropStale removes a Docker endpoint that holds the address Docker's
// IPAM hands out again, when the create conflicted: Docker has forgotten
// it (a dockerd killed with -9 does not always delete its containers'
// endpoints), and the address is Docker's to give on its networks. It
// says whether it dropped one; if not, the conflict stands.
func (d *Driver) dropStale(ctx context.Context, network, address string, conflict error) (bool, error) {
	p, err := netip.ParsePrefix(address)
	if err != nil {
		return false, conflict
	}
	eps, err := d.ctl.Endpoints(ctx)
	if err != nil {
		return false, err
	}
	for _, ep := range eps {
		for _, ifc := range ep.Interfaces {
			if ep.DockerID == "" || ifc.Network != network || ifc.IP != p.Addr().String() {
				continue
			}
			d.log.Warn("removing a Docker endpoint Docker forgot: its address is handed out again",
				logf.Ep(ep.Name), logf.Str("ip", ifc.IP))
			if err := d.ctl.RemoveEndpoint(ctx, ep.Name); err != nil && !notFound(err) {
				return false, err
			}
			return true, nil
		}
	}
	return false, conflict
}

func (d *Driver) newEndpoint(ctx context.Context, id, netName string, in *network.EndpointInterface) (*api.Endpoint, error) {
	ip := ""
	if in.Address != "" {
		p, err := netip.ParsePrefix(in.Address)
		if err != nil {
			return nil, errdefs.Invalid("address %q: %v", in.Address, err)
		}
		ip = p.Addr().String()
	}
	return d.ctl.CreateEndpoint(ctx, api.EndpointCreate{
		Name: Name(id), DockerID: id, Network: netName, IP: ip, MAC: in.MacAddress,
		Ifname: peerName(id), Handoff: true,
		// Its sandbox went without Docker's DeleteEndpoint (dockerd was
		// killed, and forgot it): nothing will ever ask for it again.
		OnGone: "remove",
	})
}

// createAnswer holds what Docker did not give: it refuses an answer that
// changes what it set.
func createAnswer(in *network.EndpointInterface, ep *api.Endpoint, n *api.Network) *network.CreateEndpointResponse {
	out := &network.EndpointInterface{}
	ifc := ep.Interfaces[0]
	if in.Address == "" {
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			out.Address = ifc.IP + "/" + itoa(p.Bits())
		}
	}
	if in.MacAddress == "" {
		out.MacAddress = ifc.MAC
	}
	if *out == (network.EndpointInterface{}) {
		return &network.CreateEndpointResponse{}
	}
	return &network.CreateEndpointResponse{Interface: out}
}

// DeleteEndpoint removes the endpoint, its publications with it. One
// already gone is no error: Docker deletes again after a crash.
func (d *Driver) DeleteEndpoint(req *network.DeleteEndpointRequest) error {
	return d.serve("delete endpoint", req.EndpointID, func(ctx context.Context) error {
		ep, err := d.findEndpoint(ctx, req.EndpointID)
		if err == nil {
			err = d.ctl.RemoveEndpoint(ctx, ep.Name)
		}
		if notFound(err) {
			return nil
		}
		return err
	})
}

// EndpointInfo tells what ebpfnet made. Docker shows none of it: it
// reads port bindings only from its own drivers (moby/libnetwork#2451).
func (d *Driver) EndpointInfo(req *network.InfoRequest) (*network.InfoResponse, error) {
	var ep *api.Endpoint
	err := d.serve("endpoint info", req.EndpointID, func(ctx context.Context) (err error) {
		ep, err = d.findEndpoint(ctx, req.EndpointID)
		return err
	})
	if err != nil {
		return nil, err
	}
	ifc := ep.Interfaces[0]
	v := map[string]string{"endpoint": ep.Name, "state": ep.State, "ip": ifc.IP, "mac": ifc.MAC,
		"host_interface": ifc.HostName}
	var ports []string
	for _, p := range ep.Ports {
		ports = append(ports, p.HostIP+":"+itoa(int(p.HostPort))+"->"+itoa(int(p.ContainerPort))+"/"+p.Proto)
	}
	v["ports"] = strings.Join(ports, ",")
	return &network.InfoResponse{Value: v}, nil
}

// Join hands the far end over: Docker moves it into the sandbox, names
// it eth<N>, and sets its address, MAC and routes; the default route via
// the gateway unless the network is internal.
func (d *Driver) Join(req *network.JoinRequest) (*network.JoinResponse, error) {
	var res *network.JoinResponse
	err := d.serve("join", req.EndpointID, func(ctx context.Context) (err error) {
		res, err = d.join(ctx, req)
		return err
	})
	return res, err
}

func (d *Driver) join(ctx context.Context, req *network.JoinRequest) (*network.JoinResponse, error) {
	ep, err := d.findEndpoint(ctx, req.EndpointID)
	if err != nil {
		return nil, err
	}
	if ep.State != "ready" {
		return nil, errdefs.Conflict("endpoint %s is %s", ep.Name, ep.State)
	}
	n, err := d.findNetwork(ctx, req.NetworkID)
	if err != nil {
		return nil, err
	}
	res := &network.JoinResponse{InterfaceName: network.InterfaceName{SrcName: ep.Interfaces[0].Name, DstPrefix: "eth"}}
	if !n.Internal {
		res.Gateway = n.Gateway
	}
	return res, nil
}

// Leave has nothing to undo: Docker takes the far end back out of the
// sandbox itself, and DeleteEndpoint follows.
func (d *Driver) Leave(req *network.LeaveRequest) error {
	return d.serve("leave", req.EndpointID, func(context.Context) error { return nil })
}

func itoa(i int) string { return strconv.Itoa(i) }
