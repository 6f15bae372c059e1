package dockerdrv

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Keys of CreateNetwork's options, as libnetwork sends them.
const (
	optGeneric  = "com.docker.network.generic" // docker network create -o
	optIPv6     = "com.docker.network.enable_ipv6"
	optInternal = "com.docker.network.internal"
)

// CreateNetwork makes the ebpfnet network of a Docker network, with the
// pool and gateway Docker's IPAM chose. Repeated for a network that
// exists with the same subnet, as Docker may after a restart, it
// succeeds.
func (d *Driver) CreateNetwork(req *network.CreateNetworkRequest) error {
	return d.serve("create network", req.NetworkID, func(ctx context.Context) error { return d.createNetwork(ctx, req) })
}

func (d *Driver) createNetwork(ctx context.Context, req *network.CreateNetworkRequest) error {
	if err := checkID("network", req.NetworkID); err != nil {
		return err
	}
	nc, err := networkCreate(req)
	if err != nil {
		return err
	}
	if n, err := d.findNetwork(ctx, req.NetworkID); err == nil {
		if n.Subnet != nc.Subnet {
			return errdefs.Conflict("network %s exists with subnet %s, not %s", n.Name, n.Subnet, nc.Subnet)
		}
		return nil
	} else if !notFound(err) {
		return err
	}
	_, err = d.ctl.CreateNetwork(ctx, nc)
	return err
}

// networkCreate is the ebpfnet request for a Docker network: one IPv4
// pool, its gateway, --internal, and the -o options ebpfnet takes
// (Docker's bridge keys for icc, masquerade, mtu and the bridge's name
// among them).
func networkCreate(req *network.CreateNetworkRequest) (api.NetworkCreate, error) {
	nc := api.NetworkCreate{Name: Name(req.NetworkID), DockerID: req.NetworkID, Options: map[string]string{}}
	if len(req.IPv6Data) > 0 || boolOpt(req.Options[optIPv6]) {
		return nc, errdefs.Invalid("IPv6 is not supported: ebpfnet networks are IPv4 only")
	}
	switch len(req.IPv4Data) {
	case 0:
		return nc, errdefs.Invalid("no IPv4 pool: give the network a --subnet")
	case 1:
	default:
		return nc, errdefs.Invalid("%d IPv4 pools: an ebpfnet network has one subnet", len(req.IPv4Data))
	}
	pool := req.IPv4Data[0]
	nc.Subnet = pool.Pool
	if pool.Gateway != "" {
		gw, err := netip.ParsePrefix(pool.Gateway)
		if err != nil {
			return nc, errdefs.Invalid("gateway %q: %v", pool.Gateway, err)
		}
		nc.Gateway = gw.Addr().String()
	}
	nc.Internal = boolOpt(req.Options[optInternal])
	if generic, ok := req.Options[optGeneric].(map[string]any); ok {
		for k, v := range generic {
			nc.Options[k] = fmt.Sprint(v)
		}
	}
	return nc, nil
}

// boolOpt reads an option Docker sends as a JSON bool, or a string.
func boolOpt(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		ok, _ := strconv.ParseBool(b)
		return ok
	}
	return false
}

// DeleteNetwork removes the network. Docker removes its endpoints first;
// a network already gone is no error, so a repeated delete succeeds.
func (d *Driver) DeleteNetwork(req *network.DeleteNetworkRequest) error {
	return d.serve("delete network", req.NetworkID, func(ctx context.Context) error { return d.deleteNetwork(ctx, req.NetworkID) })
}

func (d *Driver) deleteNetwork(ctx context.Context, id string) error {
	n, err := d.findNetwork(ctx, id)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.ctl.RemoveNetwork(ctx, n.Name)
	if notFound(err) {
		return nil
	}
	return err
}
