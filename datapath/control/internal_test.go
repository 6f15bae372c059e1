package control

import (
	"fmt"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Issue 11, found 9: an internal network does not masquerade, in the
// store, the API or the map, whatever option it was given; and one stored
// before that rule shows and is written as not masquerading.
func TestInternalNetworkDoesNotMasquerade(t *testing.T) {
	r := newRig(t)
	for _, opts := range []map[string]string{nil, {"masquerade": "true"}} {
		name := fmt.Sprintf("inner%d", len(opts))
		n, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: name, Internal: true, Options: opts,
			Subnet: fmt.Sprintf("10.%d.0.0/24", len(opts))})
		if err != nil {
			t.Fatal(err)
		}
		if n.Masquerade || r.dp.networks[n.ID].Masquerade || !r.dp.networks[n.ID].Internal {
			t.Fatalf("%s: API %+v, map %+v", name, n, r.dp.networks[n.ID])
		}
	}
	// An older store's network: internal, with masquerade set.
	old, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: "old", Subnet: "10.9.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	stored := r.storedNetwork(t, "old")
	stored.Internal = true
	r.putNetwork(t, stored)
	if v, err := r.Network(ctx, "old"); err != nil || v.Masquerade {
		t.Fatalf("inspect of an old internal network: %+v, %v", v, err)
	}
	if err := r.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if m := r.dp.networks[old.ID]; m.Masquerade || !m.Internal {
		t.Fatalf("enet_networks after a start: %+v", m)
	}
}

func (r *rig) storedNetwork(t *testing.T, name string) *store.Network {
	t.Helper()
	var n *store.Network
	if err := r.store.View(func(tx *store.Tx) (err error) { n, err = tx.Network(name); return err }); err != nil || n == nil {
		t.Fatalf("network %s: %v", name, err)
	}
	return n
}

func (r *rig) putNetwork(t *testing.T, n *store.Network) {
	t.Helper()
	if err := r.store.Update(func(tx *store.Tx) error { return tx.PutNetwork(n) }); err != nil {
		t.Fatal(err)
	}
}
