package control

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// withEndpoints is a store holding network n and count endpoints on it,
// with consecutive addresses from .2 on, as planIface would have given.
func withEndpoints(t *testing.T, n store.Network, count int) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = st.Update(func(tx *store.Tx) error {
		ip := n.Gateway
		for i := range count {
			ip = ip.Next()
			ep := &store.Endpoint{Name: fmt.Sprintf("e%d", i), State: store.StateReady,
				Interfaces: []store.Interface{{Network: n.Name, Name: "eth0", HostName: fmt.Sprintf("h%d", i), IP: ip}}}
			if err := tx.PutEndpoint(ep); err != nil {
				return err
			}
		}
		n.LastIP = ip
		return tx.PutNetwork(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPlanIfaceLimits: a network refuses a new interface, with a 409 that
// says which limit and what to do, when its pool has no address left or
// its bridge has the kernel's 1023 ports (BR_MAX_PORTS 1024, port 0 kept).
func TestPlanIfaceLimits(t *testing.T) {
	big := store.Network{Name: "big", Subnet: netip.MustParsePrefix("10.0.0.0/16"), Gateway: netip.MustParseAddr("10.0.0.1"),
		Bridge: "enet-big"}
	small := store.Network{Name: "small", Subnet: netip.MustParsePrefix("10.1.0.0/29"), Gateway: netip.MustParseAddr("10.1.0.1"),
		Bridge: "enet-small"}
	cases := []struct {
		name  string
		n     store.Network
		count int
		want  string // "": a free address is planned
	}{
		{"a bridge port left", big, netdev.MaxBridgePorts - 1, ""},
		{"bridge full", big, netdev.MaxBridgePorts,
			`network "big" has 1023 endpoints: its bridge enet-big is full, a Linux bridge takes at most 1023 ports`},
		{"an address left", small, 4, ""},
		{"pool full", small, 5,
			`network "small" has no free address left: its 5 endpoint addresses of 10.1.0.0/29 are all taken`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := withEndpoints(t, tc.n, tc.count)
			err := st.View(func(tx *store.Tx) error {
				n, err := tx.Network(tc.n.Name)
				if err != nil {
					return err
				}
				ifc, err := planner{dev: netdev.Netlink{}}.iface(tx, &store.Endpoint{Name: "new"}, n, ifaceReq{Name: "eth0"})
				if err == nil && !n.Subnet.Contains(ifc.IP) {
					t.Errorf("planned %s outside %s", ifc.IP, n.Subnet)
				}
				return err
			})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (api.Code(err) != 409 || !strings.Contains(fmt.Sprint(err), tc.want)):
				t.Fatalf("got %v (code %d), want a 409 with %q", err, api.Code(err), tc.want)
			}
		})
	}
}
