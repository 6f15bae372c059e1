package control

import (
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// The interface name and MAC a CNI runtime asks for are used, on create
// and on connect; bad ones are refused before anything is made.
func TestIfnameAndMAC(t *testing.T) {
	r := newRig(t)
	mustNetwork(t, r, "a", "10.0.0.0/24")
	mustNetwork(t, r, "b", "10.1.0.0/24")
	ep, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "x", ContainerID: "cid",
		Networks: []api.EndpointNetwork{{Name: "a", Ifname: "net0", MAC: "02:00:00:00:00:01"}}})
	if err != nil {
		t.Fatal(err)
	}
	if i := ep.Interfaces[0]; i.Name != "net0" || i.MAC != "02:00:00:00:00:01" || ep.ContainerID != "cid" {
		t.Fatalf("created %+v", ep)
	}
	if _, err := r.Connect(ctx, "b", api.Connect{Endpoint: "x", Ifname: "net0"}); err == nil || !strings.Contains(err.Error(), "already has an interface net0") {
		t.Fatalf("connect with a taken name: %v", err)
	}
	ep, err = r.Connect(ctx, "b", api.Connect{Endpoint: "x", Ifname: "net1", MAC: "02:00:00:00:00:02"})
	if err != nil || ep.Interfaces[1].Name != "net1" || ep.Interfaces[1].MAC != "02:00:00:00:00:02" {
		t.Fatalf("connect: %+v %v", ep, err)
	}
	for _, tc := range []struct{ ifname, mac, want string }{
		{"eth0", "01:00:5e:00:00:01", "multicast"},
		{"eth0", "00:00:00:00:00:00", "all zeros"},
		{"eth0", "zz", "not an Ethernet address"},
		{"a-name-that-is-too-long", "", "longer than 15 bytes"},
		{"a/b", "", "invalid"},
	} {
		_, err := r.CreateEndpoint(ctx, api.EndpointCreate{Name: "y", Network: "a", Ifname: tc.ifname, MAC: tc.mac})
		if api.Code(err) != 400 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ifname %q mac %q: %v, want a 400 saying %q", tc.ifname, tc.mac, err, tc.want)
		}
	}
	if _, eps, _ := r.stored(t); len(eps) != 1 {
		t.Fatalf("refused creates left %v", eps)
	}
}
