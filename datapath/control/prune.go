package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Pruner removes what nothing uses, as Docker's prune commands do. It
// changes state as the orchestrator does, under its lock.
type Pruner struct{ c *Control }

// NewPruner is the pruner of an orchestrator's state.
func NewPruner(c *Control) Pruner { return Pruner{c} }

// PruneNetworks removes every network no endpoint is on, the default one
// excepted, as `docker network prune` does: the store in one transaction,
// then the kernel. As with RemoveNetwork, what the kernel keeps of one
// (its bridge, its map entries) the next start's reconcile removes.
func (p Pruner) PruneNetworks(context.Context) (*api.NetworkPruneReport, error) {
	c := p.c
	if err := c.lock(); err != nil {
		return nil, err
	}
	defer c.unlock()
	var gone []store.Network
	err := c.store.Update(func(tx *store.Tx) error {
		nets, err := tx.Networks()
		if err != nil {
			return err
		}
		eps, err := tx.Endpoints()
		if err != nil {
			return err
		}
		gone = prunable(nets, eps)
		for _, n := range gone {
			if err := tx.DeleteNetwork(n.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &api.NetworkPruneReport{NetworksDeleted: []string{}}
	var errs []error
	for i := range gone {
		n := &gone[i]
		c.log.Info("network removed", logf.Net(n.Name), logf.Str("by", "prune"))
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
		if err := c.applier().teardownNetwork(n); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("prune networks: %w", err)
	}
	return rep, nil
}

// prunable is the networks prune removes: not the default, not one of
// Docker's (docker network prune is Docker's to run), and without an
// interface of any endpoint, one being removed included, sorted by name.
func prunable(nets []store.Network, eps []store.Endpoint) []store.Network {
	var out []store.Network
	for _, n := range nets {
		used := slices.ContainsFunc(eps, func(e store.Endpoint) bool { _, ok := e.Iface(n.Name); return ok })
		if !n.Default && !used && n.DockerID == "" {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b store.Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}
