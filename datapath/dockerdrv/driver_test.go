package dockerdrv

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// A Docker network is an ebpfnet network of Docker's pool, gateway,
// --internal and -o options, named by its id; what ebpfnet cannot make
// is refused.
func TestNetworkCreate(t *testing.T) {
	generic := map[string]any{"com.docker.network.bridge.name": "br-web", "com.docker.network.driver.mtu": "1400",
		"com.docker.network.bridge.enable_icc": false, "n": float64(3)}
	nc, err := networkCreate(netReq(netID, "10.20.0.0/24", "10.20.0.1/24", map[string]any{optGeneric: generic}))
	want := api.NetworkCreate{Name: "docker-" + netID[:12], DockerID: netID, Subnet: "10.20.0.0/24", Gateway: "10.20.0.1",
		Options: map[string]string{"com.docker.network.bridge.name": "br-web", "com.docker.network.driver.mtu": "1400",
			"com.docker.network.bridge.enable_icc": "false", "n": "3"}}
	if err != nil || !reflect.DeepEqual(nc, want) {
		t.Fatalf("networkCreate: %+v %v, want %+v", nc, err, want)
	}
	if nc.Name != Name(netID) {
		t.Fatalf("name %q, want Name(id) %q", nc.Name, Name(netID))
	}
	for _, tc := range []struct {
		opt  any
		want bool
	}{{true, true}, {"true", true}, {false, false}, {"false", false}, {nil, false}, {"yes", false}} {
		nc, err := networkCreate(netReq(netID, "10.20.0.0/24", "10.20.0.1/24", map[string]any{optInternal: tc.opt}))
		if err != nil || nc.Internal != tc.want {
			t.Errorf("internal option %#v: internal %v %v, want %v", tc.opt, nc.Internal, err, tc.want)
		}
	}
	if nc, err := networkCreate(netReq(netID, "10.20.0.0/24", "", nil)); err != nil || nc.Gateway != "" || nc.Options == nil {
		t.Errorf("no gateway: %+v %v", nc, err)
	}

	v6 := netReq(netID, "10.20.0.0/24", "10.20.0.1/24", nil)
	v6.IPv6Data = []*network.IPAMData{{Pool: "fd00::/64", Gateway: "fd00::1/64"}}
	twoPools := netReq(netID, "10.20.0.0/24", "", nil)
	twoPools.IPv4Data = append(twoPools.IPv4Data, &network.IPAMData{Pool: "10.21.0.0/24"})
	for _, tc := range []struct {
		name string
		req  *network.CreateNetworkRequest
		text string
	}{
		{"IPv6 pool", v6, "IPv6"},
		{"enable_ipv6", netReq(netID, "10.20.0.0/24", "", map[string]any{optIPv6: true}), "IPv6"},
		{"enable_ipv6 as a string", netReq(netID, "10.20.0.0/24", "", map[string]any{optIPv6: "true"}), "IPv6"},
		{"no pool", &network.CreateNetworkRequest{NetworkID: netID}, "no IPv4 pool"},
		{"two pools", twoPools, "2 IPv4 pools"},
		{"bad gateway", netReq(netID, "10.20.0.0/24", "gw", nil), "gateway"},
	} {
		if nc, err := networkCreate(tc.req); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %+v %v, want an invalid error saying %q", tc.name, nc, err, tc.text)
		}
	}
}

// Docker may create a network again after a restart: the same subnet is
// the same network, another is a conflict. Only Docker's ids are taken;
// deletes are repeatable.
func TestCreateDeleteNetwork(t *testing.T) {
	d, f := newDriver(t)
	req := netReq(netID, "10.20.0.0/24", "10.20.0.1/24", nil)
	for i := range 2 {
		if err := d.CreateNetwork(req); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	nets := f.networks()
	if len(nets) != 1 || nets[0].Name != Name(netID) || nets[0].DockerID != netID || nets[0].Gateway != "10.20.0.1" {
		t.Fatalf("networks %+v", nets)
	}
	if calls := f.log(); len(calls) != 1 {
		t.Fatalf("two creates called %v", calls)
	}
	err := d.CreateNetwork(netReq(netID, "10.30.0.0/24", "10.30.0.1/24", nil))
	wantErr(t, "another subnet", err, errdefs.ErrConflict, "10.30.0.0/24")
	for _, id := range []string{"", "abc", netID[:11], strings.Repeat("g", 64), strings.ToUpper(netID), netID + "a", "../" + netID} {
		wantErr(t, "id "+id, d.CreateNetwork(netReq(id, "10.40.0.0/24", "", nil)), errdefs.ErrInvalid, "not a Docker id")
	}
	wantErr(t, "IPv6", d.CreateNetwork(netReq(net2ID, "10.40.0.0/24", "", map[string]any{optIPv6: true})), errdefs.ErrInvalid, "IPv6")
	if calls := f.log(); len(calls) != 0 {
		t.Fatalf("refused creates called %v", calls)
	}
	f.fail["networks"] = errors.New("store unreadable")
	wantErr(t, "unreadable networks", d.CreateNetwork(netReq(net2ID, "10.40.0.0/24", "", nil)), nil, "store unreadable")
	wantErr(t, "delete, unreadable networks", d.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: netID}), nil, "store unreadable")
	delete(f.fail, "networks")

	if err := d.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: net2ID}); err != nil {
		t.Fatalf("delete an unknown network: %v", err)
	}
	f.fail["remove network"] = errdefs.NotFound("network %q not found", Name(netID))
	if err := d.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: netID}); err != nil {
		t.Fatalf("delete a network removed meanwhile: %v", err)
	}
	f.fail["remove network"] = errors.New("bridge busy")
	wantErr(t, "a failed removal", d.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: netID}), nil, "bridge busy")
	delete(f.fail, "remove network")
	f.log()
	for i := range 2 {
		if err := d.DeleteNetwork(&network.DeleteNetworkRequest{NetworkID: netID}); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if nets := f.networks(); len(nets) != 0 {
		t.Fatalf("deleted, networks %+v", nets)
	}
	if got := strings.Join(f.log(), "; "); got != "remove network "+Name(netID) {
		t.Fatalf("deletes called %q", got)
	}
}

// An endpoint is a handoff endpoint named by Docker's id; the answer
// holds only what Docker did not set; a repeated create makes nothing.
func TestCreateEndpoint(t *testing.T) {
	d, f := withNetwork(t, nil)
	res, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", ""))
	if err != nil {
		t.Fatal(err)
	}
	want := &network.CreateEndpointResponse{Interface: &network.EndpointInterface{MacAddress: "02:42:0a:14:00:05"}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("answer %+v, want %+v", res.Interface, want.Interface)
	}
	again, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", ""))
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("repeated: %+v %v", again, err)
	}
	creates := f.created()
	wantReq := api.EndpointCreate{Name: Name(epID), DockerID: epID, Network: Name(netID), IP: "10.20.0.5",
		Ifname: "dk" + epID[:12], Handoff: true, OnGone: "remove"}
	if len(creates) != 1 || !reflect.DeepEqual(creates[0], wantReq) {
		t.Fatalf("requests %+v, want one %+v", creates, wantReq)
	}

	res, err = d.CreateEndpoint(epReq(ep2ID, "10.20.0.6/24", "02:42:0a:00:00:99"))
	if err != nil || res.Interface != nil {
		t.Fatalf("address and MAC given: %+v %v, want no interface", res, err)
	}
	if c := f.created(); len(c) != 2 || c[1].MAC != "02:42:0a:00:00:99" || c[1].IP != "10.20.0.6" {
		t.Fatalf("requests %+v", c)
	}
	res, err = d.CreateEndpoint(epReq(staleID, "", ""))
	if err != nil || res.Interface == nil || res.Interface.Address != "10.20.0.2/24" || res.Interface.MacAddress == "" {
		t.Fatalf("nothing given: %+v %v, want ebpfnet's address and MAC", res, err)
	}
	f.log()

	unknownNet := epReq(strings.Repeat("d1", 32), "10.20.0.7/24", "")
	unknownNet.NetworkID = net2ID
	_, err = d.CreateEndpoint(unknownNet)
	wantErr(t, "an unknown network", err, errdefs.ErrNotFound, "network "+net2ID+" not found")
	v6 := epReq(strings.Repeat("d2", 32), "10.20.0.8/24", "")
	v6.Interface.AddressIPv6 = "fd00::8/64"
	_, err = d.CreateEndpoint(v6)
	wantErr(t, "an IPv6 address", err, errdefs.ErrInvalid, "IPv6")
	_, err = d.CreateEndpoint(epReq("d3", "10.20.0.9/24", ""))
	wantErr(t, "a short id", err, errdefs.ErrInvalid, "not a Docker id")
	_, err = d.CreateEndpoint(epReq(strings.Repeat("d4", 32), "10.20.0.300/24", ""))
	wantErr(t, "a bad address", err, errdefs.ErrInvalid, "10.20.0.300")
	if calls := f.log(); len(calls) != 0 {
		t.Fatalf("refused creates called %v", calls)
	}

	// The endpoint exists on another network.
	if err := d.CreateNetwork(netReq(net2ID, "10.30.0.0/24", "10.30.0.1/24", nil)); err != nil {
		t.Fatal(err)
	}
	other := epReq(epID, "10.30.0.5/24", "")
	other.NetworkID = net2ID
	_, err = d.CreateEndpoint(other)
	wantErr(t, "on another network", err, errdefs.ErrConflict, "is on network "+Name(netID))
}

// An address Docker hands out again is taken from the Docker endpoint
// Docker forgot; never from an endpoint of ebpfnet's own, nor one on
// another network.
func TestDropStale(t *testing.T) {
	d, f := withNetwork(t, nil)
	f.add(api.Endpoint{Name: Name(staleID), DockerID: staleID, State: "gone",
		Interfaces: []api.Interface{{Network: Name(netID), Name: "dk" + staleID[:12], IP: "10.20.0.5"}}})
	f.add(api.Endpoint{Name: "elsewhere", DockerID: strings.Repeat("e1", 32), State: "ready",
		Interfaces: []api.Interface{{Network: "docker-other", Name: "eth0", IP: "10.20.0.5"}}})
	f.add(api.Endpoint{Name: "web", State: "ready",
		Interfaces: []api.Interface{{Network: Name(netID), Name: "eth0", IP: "10.20.0.6"}}})
	if _, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", "")); err != nil {
		t.Fatal(err)
	}
	// The create conflicts first: nothing is removed before it has to.
	want := "create endpoint " + Name(epID) + "; remove endpoint " + Name(staleID) + "; create endpoint " + Name(epID)
	if got := strings.Join(f.log(), "; "); got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if f.ep(Name(staleID)) != nil || f.ep("elsewhere") == nil || f.ep(Name(epID)) == nil {
		t.Fatal("the stale endpoint is still there, or another went")
	}
	_, err := d.CreateEndpoint(epReq(ep2ID, "10.20.0.6/24", ""))
	wantErr(t, "ebpfnet's endpoint's address", err, errdefs.ErrConflict, "10.20.0.6 is already in use")
	if got := strings.Join(f.log(), "; "); got != "create endpoint "+Name(ep2ID) || f.ep("web") == nil {
		t.Fatalf("calls %q: ebpfnet's endpoint removed", got)
	}

	f.add(api.Endpoint{Name: "stale2", DockerID: strings.Repeat("c2", 32), State: "gone",
		Interfaces: []api.Interface{{Network: Name(netID), Name: "dk" + strings.Repeat("c2", 6), IP: "10.20.0.7"}}})
	f.fail["remove endpoint"] = errors.New("device busy")
	_, err = d.CreateEndpoint(epReq(ep2ID, "10.20.0.7/24", ""))
	wantErr(t, "a failed removal", err, nil, "device busy")
	if got := strings.Join(f.log(), "; "); got != "create endpoint "+Name(ep2ID)+"; remove endpoint stale2" {
		t.Fatalf("a removal failed, then calls %q", got)
	}
}

// Join hands the far end over to be eth<N>, with the gateway unless the
// network is internal.
func TestJoin(t *testing.T) {
	for _, internal := range []bool{false, true} {
		d, _ := withNetwork(t, map[string]any{optInternal: internal})
		if _, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", "")); err != nil {
			t.Fatal(err)
		}
		res, err := d.Join(&network.JoinRequest{NetworkID: netID, EndpointID: epID, SandboxKey: "/var/run/docker/netns/x"})
		want := &network.JoinResponse{InterfaceName: network.InterfaceName{SrcName: "dk" + epID[:12], DstPrefix: "eth"}, Gateway: "10.20.0.1"}
		if internal {
			want.Gateway = ""
		}
		if err != nil || !reflect.DeepEqual(res, want) {
			t.Errorf("internal %v: join %+v %v, want %+v", internal, res, err, want)
		}
		_, err = d.Join(&network.JoinRequest{NetworkID: netID, EndpointID: ep2ID})
		wantErr(t, "join an unknown endpoint", err, errdefs.ErrNotFound, "endpoint "+ep2ID+" not found")
		if err := d.Leave(&network.LeaveRequest{NetworkID: netID, EndpointID: epID}); err != nil {
			t.Errorf("leave: %v", err)
		}
	}
	d, f := withNetwork(t, nil)
	f.add(api.Endpoint{Name: Name(epID), DockerID: epID, State: "gone",
		Interfaces: []api.Interface{{Network: Name(netID), Name: "dk" + epID[:12], IP: "10.20.0.5"}}})
	_, err := d.Join(&network.JoinRequest{NetworkID: netID, EndpointID: epID})
	wantErr(t, "join a gone endpoint", err, errdefs.ErrConflict, "is gone")
}

func TestDeleteEndpoint(t *testing.T) {
	d, f := withNetwork(t, nil)
	if _, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", "")); err != nil {
		t.Fatal(err)
	}
	f.log()
	if err := d.DeleteEndpoint(&network.DeleteEndpointRequest{NetworkID: netID, EndpointID: ep2ID}); err != nil {
		t.Fatalf("delete an unknown endpoint: %v", err)
	}
	if calls := f.log(); len(calls) != 0 {
		t.Fatalf("deleting an unknown endpoint called %v", calls)
	}
	f.fail["remove endpoint"] = errors.New("device busy")
	wantErr(t, "a failed removal", d.DeleteEndpoint(&network.DeleteEndpointRequest{NetworkID: netID, EndpointID: epID}), nil, "device busy")
	delete(f.fail, "remove endpoint")
	f.log()
	for i := range 2 {
		if err := d.DeleteEndpoint(&network.DeleteEndpointRequest{NetworkID: netID, EndpointID: epID}); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if f.ep(Name(epID)) != nil {
		t.Fatal("deleted, the endpoint is still there")
	}
	if got := strings.Join(f.log(), "; "); got != "remove endpoint "+Name(epID) {
		t.Fatalf("calls %q", got)
	}
}

func TestCapabilities(t *testing.T) {
	d, _ := newDriver(t)
	c, err := d.GetCapabilities()
	if err != nil || c.Scope != network.LocalScope || c.ConnectivityScope != network.LocalScope {
		t.Fatalf("capabilities %+v %v", c, err)
	}
	if _, err := d.AllocateNetwork(&network.AllocateNetworkRequest{NetworkID: netID}); err == nil {
		t.Fatal("a local driver allocated a swarm network")
	}
	if Name(netID) != "docker-a1a1a1a1a1a1" || Name("abc") != "docker-abc" {
		t.Fatalf("names %q %q", Name(netID), Name("abc"))
	}
}
