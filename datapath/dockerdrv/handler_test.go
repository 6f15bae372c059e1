package dockerdrv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// serve runs the driver's handler on a unix socket, as dockerd finds it
// under /run/docker/plugins, and returns a poster of JSON bodies to it.
func serve(t *testing.T, d *Driver) func(path, body string) (int, string, []byte) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ebpfnet.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Handler().Serve(l) }()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		l.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	c := &http.Client{Transport: tr}
	return func(path, body string) (int, string, []byte) {
		t.Helper()
		res, err := c.Post("http://plugin"+path, "application/vnd.docker.plugins.v1.2+json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return res.StatusCode, res.Header.Get("Content-Type"), out
	}
}

// The calls as dockerd makes them: JSON bodies, errors in a 500 with
// {"Err": ...}, which libnetwork shows its user.
func TestHandler(t *testing.T) {
	d, f := newDriver(t)
	post := serve(t, d)

	code, _, body := post("/Plugin.Activate", "")
	var act struct{ Implements []string }
	if err := json.Unmarshal(body, &act); code != http.StatusOK || err != nil || len(act.Implements) != 1 || act.Implements[0] != "NetworkDriver" {
		t.Fatalf("activate: %d %s %v", code, body, err)
	}

	join := `{"NetworkID":"` + netID + `","EndpointID":"` + epID + `","SandboxKey":"/var/run/docker/netns/x","Options":{}}`
	code, ctype, body := post("/NetworkDriver.Join", join)
	var e struct{ Err string }
	if err := json.Unmarshal(body, &e); code != http.StatusInternalServerError || err != nil ||
		!strings.HasPrefix(e.Err, "ebpfnet: join: ") || !strings.Contains(e.Err, "not found") {
		t.Fatalf("join an unknown endpoint: %d %s %v, want a 500 with Docker's error", code, body, err)
	}
	if ctype != "application/vnd.docker.plugins.v1.1+json" {
		t.Errorf("error content type %q", ctype)
	}

	code, _, body = post("/NetworkDriver.GetCapabilities", "")
	if code != http.StatusOK || !strings.Contains(string(body), `"Scope":"local"`) {
		t.Fatalf("after an error, capabilities: %d %s", code, body)
	}
	for _, path := range []string{"/NetworkDriver.Join", "/NetworkDriver.CreateNetwork", "/NetworkDriver.CreateEndpoint"} {
		if code, _, body := post(path, `{"NetworkID":`); code != http.StatusBadRequest {
			t.Errorf("%s with a malformed body: %d %s, want 400", path, code, body)
		}
	}

	// A container's life, with the bodies as dockerd sends them.
	for _, c := range []struct{ path, body, want string }{
		{"/NetworkDriver.CreateNetwork", `{"NetworkID":"` + netID + `","Options":{"com.docker.network.enable_ipv6":false,
			"com.docker.network.generic":{"com.docker.network.bridge.name":"br-web"}},
			"IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"10.20.0.0/24","Gateway":"10.20.0.1/24","AuxAddresses":null}],
			"IPv6Data":[]}`, `{}`},
		{"/NetworkDriver.CreateEndpoint", `{"NetworkID":"` + netID + `","EndpointID":"` + epID + `",
			"Interface":{"Address":"10.20.0.5/24","AddressIPv6":"","MacAddress":""},"Options":{}}`,
			`{"Interface":{"Address":"","AddressIPv6":"","MacAddress":"02:42:0a:14:00:05"}}`},
		{"/NetworkDriver.Join", join, `{"InterfaceName":{"SrcName":"dk` + epID[:12] + `","DstPrefix":"eth"},` +
			`"Gateway":"10.20.0.1","GatewayIPv6":"","StaticRoutes":null,"DisableGatewayService":false}`},
		{"/NetworkDriver.ProgramExternalConnectivity", `{"NetworkID":"` + netID + `","EndpointID":"` + epID +
			`","Options":{` + dockerPortmap + `}}`, `{}`},
		{"/NetworkDriver.RevokeExternalConnectivity", `{"NetworkID":"` + netID + `","EndpointID":"` + epID + `"}`, `{}`},
		{"/NetworkDriver.Leave", `{"NetworkID":"` + netID + `","EndpointID":"` + epID + `"}`, `{}`},
		{"/NetworkDriver.DeleteEndpoint", `{"NetworkID":"` + netID + `","EndpointID":"` + epID + `"}`, `{}`},
		{"/NetworkDriver.DeleteNetwork", `{"NetworkID":"` + netID + `"}`, `{}`},
	} {
		code, _, body := post(c.path, c.body)
		if code != http.StatusOK || strings.TrimSpace(string(body)) != c.want {
			t.Errorf("%s: %d %s, want 200 %s", c.path, code, body, c.want)
		}
	}
	ep, nw := Name(epID), Name(netID)
	want := "create network " + nw + "; create endpoint " + ep +
		"; publish " + ep + " 8080:80/tcp 127.0.0.1::53/udp 9000-9010:90/udp" +
		"; unpublish " + ep + " 0.0.0.0:8080:80/tcp 127.0.0.1:32768:53/udp 0.0.0.0:9000:90/udp" +
		"; remove endpoint " + ep + "; remove network " + nw
	if got := strings.Join(f.log(), "; "); got != want {
		t.Fatalf("calls\n%s\nwant\n%s", got, want)
	}
}
