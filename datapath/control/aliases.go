package control

import (
	"context"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Aliaser changes endpoints' aliases, under the orchestrator's lock.
type Aliaser struct{ c *Control }

// NewAliaser is the aliaser of an orchestrator's endpoints.
func NewAliaser(c *Control) Aliaser { return Aliaser{c} }

// SetAliases replaces the names an endpoint answers to on a network,
// beside its own. Only the store and the resolver change: the next
// query has the new names.
func (a Aliaser) SetAliases(_ context.Context, endpoint string, req api.Aliases) (*api.Endpoint, error) {
	c := a.c
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	aliases, err := checkAliases(req.Aliases)
	if err != nil {
		return nil, err
	}
	var ep *store.Endpoint
	err = c.store.Update(func(tx *store.Tx) error {
		var err error
		if ep, _, err = endpointAndNetwork(tx, endpoint, req.Network); err != nil {
			return err
		}
		ifc, ok := ep.Iface(req.Network)
		if !ok {
			return errdefs.NotFound("endpoint %q is not connected to network %q", endpoint, req.Network)
		}
		ifc.Aliases = aliases
		return tx.PutEndpoint(ep)
	})
	if err != nil {
		return nil, err
	}
	c.log.Info("endpoint aliases set", logf.Ep(endpoint), logf.Net(req.Network), logf.Strs("aliases", aliases))
	v, err := readPorts(c.store, c.endpointView(ep), ep)
	return &v, err
}
