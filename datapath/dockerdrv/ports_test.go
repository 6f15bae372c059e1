package dockerdrv

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/network"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
)

// A binding is the -p spec ebpfnet publishes, in the syntax portspec
// reads back to the same protocol, address and ports; the bindings
// ebpfnet cannot publish are refused.
func TestSpec(t *testing.T) {
	for _, tc := range []struct {
		b    binding
		want string
	}{
		{binding{Proto: 6, Port: 80}, "80/tcp"},
		{binding{Proto: 17, Port: 53}, "53/udp"},
		{binding{Proto: 132, Port: 5000}, "5000/sctp"},
		{binding{Proto: 6, Port: 80, HostPort: 8080}, "8080:80/tcp"},
		{binding{Proto: 6, Port: 80, HostPort: 8080, HostPortEnd: 8080}, "8080:80/tcp"},
		{binding{Proto: 17, Port: 90, HostPort: 9000, HostPortEnd: 9010}, "9000-9010:90/udp"},
		{binding{Proto: 132, Port: 80, HostPort: 8080}, "8080:80/sctp"},
		{binding{Proto: 6, Port: 80, HostIP: "127.0.0.1", HostPort: 8080}, "127.0.0.1:8080:80/tcp"},
		{binding{Proto: 6, Port: 80, HostIP: "127.0.0.1"}, "127.0.0.1::80/tcp"},
		{binding{Proto: 6, Port: 80, HostIP: "0.0.0.0", HostPort: 8080}, "8080:80/tcp"},
		{binding{Proto: 6, Port: 80, HostIP: "", HostPort: 8080}, "8080:80/tcp"},
		{binding{Proto: 6, Port: 80, HostIP: "0.0.0.0"}, "80/tcp"},
	} {
		got, err := tc.b.spec()
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q %v, want %q", tc.b, got, err, tc.want)
			continue
		}
		sp, err := portspec.Parse(got)
		if err != nil {
			t.Errorf("%+v: portspec refuses %q: %v", tc.b, got, err)
			continue
		}
		var ip netip.Addr
		if tc.b.HostIP != "" && tc.b.HostIP != "0.0.0.0" {
			ip = netip.MustParseAddr(tc.b.HostIP)
		}
		first, last := uint16(tc.b.HostPort), uint16(max(tc.b.HostPort, tc.b.HostPortEnd))
		if tc.b.HostPort == 0 {
			last = 0
		}
		want := portspec.Spec{Proto: protoNames[tc.b.Proto], HostIP: ip, HostFirst: first, HostLast: last,
			CPortFirst: uint16(tc.b.Port), CPortLast: uint16(tc.b.Port)}
		if sp != want {
			t.Errorf("%q parses as %+v, want %+v", got, sp, want)
		}
	}
	for _, b := range []binding{
		{Proto: 1, Port: 80},
		{Proto: 0, Port: 80},
		{Proto: 6, Port: 80, HostIP: "::1", HostPort: 8080},
		{Proto: 6, Port: 80, HostIP: "::"},
		{Proto: 6, Port: 80, HostIP: "localhost"},
		{Proto: 6, Port: 0, HostPort: 8080},
		{Proto: 6, Port: 70000},
		{Proto: 6, Port: -1},
		{Proto: 6, Port: 80, HostPort: 70000},
		{Proto: 6, Port: 80, HostPort: -1},
		{Proto: 6, Port: 80, HostPort: 9000, HostPortEnd: 70000},
	} {
		if s, err := b.spec(); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%+v: %q %v, want an invalid error", b, s, err)
		}
	}
}

// portmap is the option as Docker sends it, decoded as the handler
// decodes it.
func portmap(t *testing.T, js string) map[string]any {
	t.Helper()
	var req network.ProgramExternalConnectivityRequest
	if err := json.Unmarshal([]byte(`{"NetworkID":"n","EndpointID":"e","Options":{`+js+`}}`), &req); err != nil {
		t.Fatal(err)
	}
	return req.Options
}

// threeBindings are -p 8080:80 -p 127.0.0.1::53/udp -p 9000-9010:90/udp.
const threeBindings = `
	{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080},
	{"Proto":17,"IP":"","Port":53,"HostIP":"127.0.0.1","HostPort":0,"HostPortEnd":0},
	{"Proto":17,"IP":"","Port":90,"HostIP":"0.0.0.0","HostPort":9000,"HostPortEnd":9010}`

const dockerPortmap = `"com.docker.network.portmap":[` + threeBindings + `],
	"com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}]`

func TestBindings(t *testing.T) {
	opts := portmap(t, dockerPortmap)
	if _, ok := opts[optPortMap].([]any); !ok {
		t.Fatalf("the portmap decodes as %T", opts[optPortMap])
	}
	bs, err := bindings(opts)
	want := []binding{{Proto: 6, Port: 80, HostPort: 8080, HostPortEnd: 8080},
		{Proto: 17, Port: 53, HostIP: "127.0.0.1"},
		{Proto: 17, Port: 90, HostIP: "0.0.0.0", HostPort: 9000, HostPortEnd: 9010}}
	if err != nil || !slices.Equal(bs, want) {
		t.Fatalf("bindings %+v %v, want %+v", bs, err, want)
	}
	for _, opts := range []map[string]any{nil, {}, portmap(t, `"com.docker.network.portmap":null`),
		portmap(t, `"com.docker.network.endpoint.exposedports":[{"Proto":6,"Port":80}]`)} {
		if bs, err := bindings(opts); bs != nil || err != nil {
			t.Errorf("bindings of %v: %+v %v, want none", opts, bs, err)
		}
	}
	for _, js := range []string{`"8080:80"`, `{"Port":80}`, `[{"Port":"eighty"}]`, `[{"Port":80.5}]`, `[1, 2]`} {
		if bs, err := bindings(portmap(t, `"com.docker.network.portmap":`+js)); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("bindings of %s: %+v %v, want an invalid error", js, bs, err)
		}
	}
}

func program(d *Driver, id string, opts map[string]any) error {
	return d.ProgramExternalConnectivity(&network.ProgramExternalConnectivityRequest{NetworkID: netID, EndpointID: id, Options: opts})
}

// The bindings are published once however often Docker asks; revoked,
// every port of the endpoint goes.
func TestProgramAndRevoke(t *testing.T) {
	d, f := withNetwork(t, nil)
	if _, err := d.CreateEndpoint(epReq(epID, "10.20.0.5/24", "")); err != nil {
		t.Fatal(err)
	}
	f.log()
	name := Name(epID)
	opts := portmap(t, dockerPortmap)
	if err := program(d, epID, opts); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log(), "; "), "publish "+name+" 8080:80/tcp 127.0.0.1::53/udp 9000-9010:90/udp"; got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if ports := f.ep(name).Ports; len(ports) != 3 {
		t.Fatalf("ports %+v", ports)
	}
	if err := program(d, epID, opts); err != nil || len(f.log()) != 0 {
		t.Fatalf("a repeated call: %v, published again", err)
	}
	more := portmap(t, `"com.docker.network.portmap":[`+threeBindings+`,{"Proto":6,"Port":81,"HostPort":8081}]`)
	if err := program(d, epID, more); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log(), "; "), "publish "+name+" 8081:81/tcp"; got != want {
		t.Fatalf("one more binding: calls %q, want %q", got, want)
	}
	// The same container port on a host port outside the binding's is
	// not the binding's.
	other := portmap(t, `"com.docker.network.portmap":[{"Proto":6,"Port":80,"HostPort":8000,"HostPortEnd":8005}]`)
	if err := program(d, epID, other); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log(), "; "), "publish "+name+" 8000-8005:80/tcp"; got != want {
		t.Fatalf("another host port: calls %q, want %q", got, want)
	}
	// Nor on another protocol, container port or host address.
	others := portmap(t, `"com.docker.network.portmap":[{"Proto":17,"Port":80,"HostPort":8080},
		{"Proto":17,"Port":54,"HostIP":"127.0.0.1"},{"Proto":17,"Port":53}]`)
	if err := program(d, epID, others); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(f.log(), "; "), "publish "+name+" 8080:80/udp 127.0.0.1::54/udp 53/udp"; got != want {
		t.Fatalf("other bindings: calls %q, want %q", got, want)
	}
	for _, opts := range []map[string]any{nil, portmap(t, `"com.docker.network.portmap":[]`)} {
		if err := program(d, epID, opts); err != nil || len(f.log()) != 0 {
			t.Fatalf("no bindings: %v, calls made", err)
		}
	}
	bad := portmap(t, `"com.docker.network.portmap":[{"Proto":6,"Port":82,"HostPort":8082},{"Proto":1,"Port":80}]`)
	wantErr(t, "an ICMP binding", program(d, epID, bad), errdefs.ErrInvalid, "IP protocol 1")
	wantErr(t, "a malformed portmap", program(d, epID, portmap(t, `"com.docker.network.portmap":"80"`)), errdefs.ErrInvalid, optPortMap)
	wantErr(t, "an unknown endpoint", program(d, ep2ID, opts), errdefs.ErrNotFound, "not found")
	if calls := f.log(); len(calls) != 0 {
		t.Fatalf("refused calls published: %v", calls)
	}

	info, err := d.EndpointInfo(&network.InfoRequest{NetworkID: netID, EndpointID: epID})
	if err != nil {
		t.Fatal(err)
	}
	if v := info.Value; v["endpoint"] != name || v["ip"] != "10.20.0.5" ||
		v["ports"] != "0.0.0.0:8080->80/tcp,127.0.0.1:32768->53/udp,0.0.0.0:9000->90/udp,0.0.0.0:8081->81/tcp,0.0.0.0:8000->80/tcp,"+
			"0.0.0.0:8080->80/udp,127.0.0.1:32769->54/udp,0.0.0.0:32770->53/udp" {
		t.Fatalf("info %v", v)
	}
	_, err = d.EndpointInfo(&network.InfoRequest{NetworkID: netID, EndpointID: ep2ID})
	wantErr(t, "info of an unknown endpoint", err, errdefs.ErrNotFound, "not found")

	if err := d.RevokeExternalConnectivity(&network.RevokeExternalConnectivityRequest{NetworkID: netID, EndpointID: epID}); err != nil {
		t.Fatal(err)
	}
	if ports := f.ep(name).Ports; len(ports) != 0 {
		t.Fatalf("revoked, the endpoint publishes %+v", ports)
	}
	want := "unpublish " + name + " 0.0.0.0:8080:80/tcp 127.0.0.1:32768:53/udp 0.0.0.0:9000:90/udp 0.0.0.0:8081:81/tcp " +
		"0.0.0.0:8000:80/tcp 0.0.0.0:8080:80/udp 127.0.0.1:32769:54/udp 0.0.0.0:32770:53/udp"
	if got := strings.Join(f.log(), "; "); got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
	for _, id := range []string{epID, ep2ID} {
		if err := d.RevokeExternalConnectivity(&network.RevokeExternalConnectivityRequest{NetworkID: netID, EndpointID: id}); err != nil {
			t.Errorf("revoke %s again: %v", id[:4], err)
		}
	}
	if calls := f.log(); len(calls) != 0 {
		t.Fatalf("revokes with nothing published called %v", calls)
	}
}
