package control

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Issue 11, must-hold 4: network prune removes the networks no endpoint
// is on, from the store and the kernel, never the default one, and says
// which.
func TestPruneNetworks(t *testing.T) {
	r := newRig(t)
	if err := r.EnsureDefaultNetwork(); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"busy", "empty", "also-empty", "second"} {
		mustNetwork(t, r, n, fmt.Sprintf("10.%d.0.0/24", i))
	}
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "busy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Connect(ctx, "second", api.Connect{Endpoint: "api"}); err != nil {
		t.Fatal(err)
	}
	bridges := map[string]string{}
	for _, n := range mustNetworks(t, r) {
		bridges[n.Name] = n.Bridge
	}
	rep, err := NewPruner(r.Control).PruneNetworks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"also-empty", "empty"}; !slices.Equal(rep.NetworksDeleted, want) {
		t.Fatalf("pruned %v, want %v", rep.NetworksDeleted, want)
	}
	if nets, _, _ := r.stored(t); !slices.Equal(nets, []string{"bridge", "busy", "second"}) {
		t.Fatalf("store holds %v", nets)
	}
	for name, br := range bridges {
		if gone := name == "empty" || name == "also-empty"; r.dev.LinkExists(br) == gone || r.dp.bridges[br] == gone {
			t.Errorf("bridge %s of %s: exists %v, enet_to_br on it %v", br, name, r.dev.LinkExists(br), r.dp.bridges[br])
		}
	}
	if len(r.dp.networks) != 3 {
		t.Fatalf("enet_networks holds %v", r.dp.networks)
	}
	// Nothing left to prune: an empty report, not an error.
	rep, err = NewPruner(r.Control).PruneNetworks(ctx)
	if err != nil || rep.NetworksDeleted == nil || len(rep.NetworksDeleted) != 0 {
		t.Fatalf("second prune: %+v, %v", rep, err)
	}
}

// A network whose endpoint's removal was cut short still has it: prune
// leaves the network to the start-up that finishes the removal.
func TestPruneKeepsNetworksOfEndpointsBeingRemoved(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	if _, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "api", Network: "web"}); err != nil {
		t.Fatal(err)
	}
	r.dev.fail["DeleteOwned"] = true
	if err := r.RemoveEndpoint(ctx, "api"); err == nil {
		t.Fatal("removed")
	}
	r.dev.fail["DeleteOwned"] = false
	if rep, err := NewPruner(r.Control).PruneNetworks(ctx); err != nil || len(rep.NetworksDeleted) != 0 {
		t.Fatalf("pruned %+v, %v", rep, err)
	}
}

// A bridge the kernel will not delete fails the prune with its name; the
// store no longer holds the network, and the next start removes the
// bridge, as after a network rm.
func TestPruneNetworksKernelFailure(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "web", "10.0.0.0/24")
	r.dev.fail["DeleteOwned"] = true
	_, err := NewPruner(r.Control).PruneNetworks(ctx)
	if err == nil || !strings.Contains(err.Error(), "prune networks: network web: DeleteOwned") {
		t.Fatalf("got %v", err)
	}
	if nets, _, _ := r.stored(t); len(nets) > 0 {
		t.Fatalf("store holds %v", nets)
	}
}

func mustNetworks(t *testing.T, r *rig) []api.Network {
	t.Helper()
	nets, err := r.Networks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

// An empty network Docker made through the driver is Docker's to prune.
func TestPruneLeavesDockersNetworks(t *testing.T) {
	r := newRig(t)
	if _, err := r.CreateNetwork(ctx, api.NetworkCreate{Name: "docker-abc", Subnet: "10.9.0.0/24", DockerID: "abc"}); err != nil {
		t.Fatal(err)
	}
	mustNetwork(t, r, "mine", "10.8.0.0/24")
	rep, err := NewPruner(r.Control).PruneNetworks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mine"}; !slices.Equal(rep.NetworksDeleted, want) {
		t.Fatalf("pruned %v, want %v", rep.NetworksDeleted, want)
	}
}
