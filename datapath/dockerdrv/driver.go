// Package dockerdrv is ebpfnet as a Docker network driver: libnetwork's
// remote driver protocol (JSON over HTTP on a unix socket under
// /run/docker/plugins), served with go-plugins-helpers' handler. A
// Docker network is an ebpfnet network, created with Docker's pool,
// gateway and options; a Docker endpoint is an ebpfnet endpoint of one
// interface whose far end Docker moves into the container's sandbox
// itself (a handoff endpoint); its port bindings are ebpfnet
// publications. Docker names networks and endpoints by id only, so the
// ebpfnet names are docker-<first 12 hex digits of the id>, and the full
// id is stored with each.
package dockerdrv

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/docker/go-plugins-helpers/network"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
)

// Control is what the driver asks of the orchestrator.
type Control interface {
	CreateNetwork(ctx context.Context, req api.NetworkCreate) (*api.Network, error)
	Network(ctx context.Context, name string) (*api.Network, error)
	RemoveNetwork(ctx context.Context, name string) error
	CreateEndpoint(ctx context.Context, req api.EndpointCreate) (*api.Endpoint, error)
	Endpoint(ctx context.Context, name string) (*api.Endpoint, error)
	Endpoints(ctx context.Context) ([]api.Endpoint, error)
	RemoveEndpoint(ctx context.Context, name string) error
	Publish(ctx context.Context, endpoint string, req api.Publish) ([]api.Port, error)
	Unpublish(ctx context.Context, endpoint string, req api.Publish) ([]api.Port, error)
}

// Driver serves Docker's calls one at a time: each looks up, then
// changes, and the orchestrator's lock covers one change only.
type Driver struct {
	mu  sync.Mutex
	ctl Control
	log *zap.Logger
}

var _ network.Driver = (*Driver)(nil)

// New returns the driver.
func New(ctl Control, log *zap.Logger) *Driver { return &Driver{ctl: ctl, log: log} }

// Handler is the driver behind go-plugins-helpers' routes, activation
// included.
func (d *Driver) Handler() *network.Handler { return network.NewHandler(d) }

// callTimeout bounds one call: Docker waits for each.
const callTimeout = time.Minute

// serve runs one of Docker's calls: alone, bounded, logged, and failing
// with an error that names it, which Docker shows its user.
func (d *Driver) serve(call, id string, fn func(context.Context) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		d.log.Warn("docker "+call+" failed", logf.Str("id", id), logf.Err(err))
		return fmt.Errorf("ebpfnet: %s: %w", call, err)
	}
	d.log.Debug("docker "+call, logf.Str("id", id))
	return nil
}

// Name is the ebpfnet name of a Docker network or endpoint id.
func Name(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return "docker-" + id
}

func checkID(kind, id string) error {
	if len(id) < 12 || len(id) > 64 {
		return errdefs.Invalid("%s id %.70q is not a Docker id", kind, id)
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errdefs.Invalid("%s id %.70q is not a Docker id", kind, id)
		}
	}
	return nil
}

// GetCapabilities: a local driver, as Docker's bridge is.
func (d *Driver) GetCapabilities() (*network.CapabilitiesResponse, error) {
	return &network.CapabilitiesResponse{Scope: network.LocalScope, ConnectivityScope: network.LocalScope}, nil
}

// AllocateNetwork and FreeNetwork are swarm's, for global drivers.
func (d *Driver) AllocateNetwork(*network.AllocateNetworkRequest) (*network.AllocateNetworkResponse, error) {
	return nil, errors.New("ebpfnet is a local driver: it allocates no swarm networks")
}

// FreeNetwork: see AllocateNetwork.
func (d *Driver) FreeNetwork(*network.FreeNetworkRequest) error {
	return errors.New("ebpfnet is a local driver: it allocates no swarm networks")
}

// DiscoverNew and DiscoverDelete tell of other nodes, which a local
// driver has no use for.
func (d *Driver) DiscoverNew(*network.DiscoveryNotification) error { return nil }

// DiscoverDelete: see DiscoverNew.
func (d *Driver) DiscoverDelete(*network.DiscoveryNotification) error { return nil }

// findNetwork is the network Docker knows by id: the one whose name
// derives from the id, if it records that id. Not found, the error names
// Docker's id, as Docker shows it.
func (d *Driver) findNetwork(ctx context.Context, id string) (*api.Network, error) {
	n, err := d.ctl.Network(ctx, Name(id))
	if notFound(err) || err == nil && n.DockerID != id {
		return nil, errdefs.NotFound("network %s not found", id)
	}
	return n, err
}

// findEndpoint is the endpoint Docker knows by id, found the same way.
func (d *Driver) findEndpoint(ctx context.Context, id string) (*api.Endpoint, error) {
	ep, err := d.ctl.Endpoint(ctx, Name(id))
	if notFound(err) || err == nil && ep.DockerID != id {
		return nil, errdefs.NotFound("endpoint %s not found", id)
	}
	return ep, err
}

func notFound(err error) bool { return errors.Is(err, errdefs.ErrNotFound) }
