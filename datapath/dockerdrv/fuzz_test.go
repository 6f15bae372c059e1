package dockerdrv

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/network"
	"go.uber.org/zap"
)

// FuzzCalls feeds the driver what dockerd's handler would decode from any
// body, on every route, after a network and an endpoint exist: it must
// answer or refuse, never panic, and a refused call must change nothing.
func FuzzCalls(f *testing.F) {
	id := strings.Repeat("ab", 32)
	f.Add(uint8(0), []byte(`{"NetworkID":"`+id+`","IPv4Data":[{"Pool":"10.1.0.0/24","Gateway":"10.1.0.1/24"}]}`))
	f.Add(uint8(1), []byte(`{"NetworkID":"`+netID+`","EndpointID":"`+strings.Repeat("ef", 32)+`","Interface":{"Address":"10.20.0.2/24","MacAddress":"zz"}}`))
	f.Add(uint8(1), []byte(`{"NetworkID":"`+id+`","EndpointID":"`+strings.Repeat("cd", 32)+`","Interface":{"Address":"10.1.0.9/24"}}`))
	f.Add(uint8(2), []byte(`{"EndpointID":"`+id+`","Options":{"com.docker.network.portmap":[{"Proto":6,"Port":80,"HostPort":8080}]}}`))
	f.Add(uint8(3), []byte(`{"Options":{"com.docker.network.generic":{"mtu":"x"},"com.docker.network.internal":"yes"}}`))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		fc := newFake()
		d := New(fc, zap.NewNop())
		if err := d.CreateNetwork(netReq(netID, "10.20.0.0/24", "10.20.0.1/24", nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CreateEndpoint(epReq(id, "10.20.0.2/24", "")); err != nil {
			t.Fatal(err)
		}
		before := fc.state()
		err := call(d, route%7, body)
		if after := fc.state(); err != nil && after != before {
			t.Errorf("a refused call (%v) changed the state:\n%s\nto\n%s", err, before, after)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "ebpfnet: ") && !strings.HasPrefix(err.Error(), "json: ") &&
			!strings.Contains(err.Error(), "invalid character") && !strings.Contains(err.Error(), "unexpected end") {
			t.Errorf("error %q is not the driver's", err)
		}
	})
}

// call decodes body for a route, as the handler does, and calls it.
func call(d *Driver, route uint8, body []byte) error {
	dec := func(v any) error { return json.Unmarshal(body, v) }
	switch route {
	case 0:
		var r network.CreateNetworkRequest
		if err := dec(&r); err != nil {
			return err
		}
		return d.CreateNetwork(&r)
	case 1:
		var r network.CreateEndpointRequest
		if err := dec(&r); err != nil {
			return err
		}
		_, err := d.CreateEndpoint(&r)
		return err
	case 2:
		var r network.ProgramExternalConnectivityRequest
		if err := dec(&r); err != nil {
			return err
		}
		return d.ProgramExternalConnectivity(&r)
	case 3:
		var r network.JoinRequest
		if err := dec(&r); err != nil {
			return err
		}
		_, err := d.Join(&r)
		return err
	case 4:
		var r network.DeleteEndpointRequest
		if err := dec(&r); err != nil {
			return err
		}
		return d.DeleteEndpoint(&r)
	case 5:
		var r network.RevokeExternalConnectivityRequest
		if err := dec(&r); err != nil {
			return err
		}
		return d.RevokeExternalConnectivity(&r)
	default:
		var r network.InfoRequest
		if err := dec(&r); err != nil {
			return err
		}
		_, err := d.EndpointInfo(&r)
		return err
	}
}
