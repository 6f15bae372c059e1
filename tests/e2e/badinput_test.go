package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// apiClient speaks raw HTTP to a world's daemon: bodies and paths no
// well-behaved client would send.
type apiClient struct {
	w    *world.World
	http *http.Client
}

func newAPIClient(w *world.World) *apiClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", w.Socket)
	}}
	// A redirect is an answer to check, not one to follow.
	return &apiClient{w: w, http: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends one request and returns the status and the body.
func (c *apiClient) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://ebpfnet"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// state is what a refused request must leave as it was, byte for byte:
// the daemon's listings of its store and maps, the store file itself, the
// node's devices and addresses, the world's namespaces, and the sockets
// holding published ports.
func (c *apiClient) state(t *testing.T) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, p := range []string{"/v1/networks", "/v1/endpoints", "/v1/ports",
		"/v1/bpf/endpoints", "/v1/bpf/networks", "/v1/bpf/ports", "/v1/bpf/nat"} {
		code, body := c.do(t, http.MethodGet, p, nil)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, code, body)
		}
		s["GET "+p] = string(body)
	}
	db, err := os.ReadFile(filepath.Join(c.w.Dir, "state", "ebpfnet.db"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(db)
	s["store file sha256"] = hex.EncodeToString(sum[:])
	s["links"] = nodeLinks(t, c.w)
	s["ip addr"] = c.w.MustExec(c.w.Node, "ip", "-o", "-4", "addr", "show")
	s["sockets"] = c.w.MustExec(c.w.Node, "ss", "-Hlntu")
	var ns []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), c.w.ID) {
			ns = append(ns, e.Name())
		}
	}
	s["netns"] = strings.Join(ns, " ")
	return s
}

// nodeLinks lists the node's devices (from netlink: see links), with no
// bridge details, whose timers run on, and no IPv6 addresses, which change
// as duplicate address detection ends.
func nodeLinks(t *testing.T, w *world.World) string {
	t.Helper()
	ls := links(t, w, w.Node)
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		fmt.Fprintf(&b, "%+v\n", ls[name])
	}
	return b.String()
}

// settled is the state once it holds still: devices of endpoints just
// created may still be coming up.
func (c *apiClient) settled(t *testing.T) map[string]string {
	t.Helper()
	s := c.state(t)
	if !world.Wait(10*time.Second, func() bool {
		prev := s
		s = c.state(t)
		return maps.Equal(prev, s)
	}) {
		t.Fatalf("the state does not settle")
	}
	return s
}

// unchanged fails the test unless the state is what it was, naming the
// first line of each part that differs.
func (c *apiClient) unchanged(t *testing.T, before map[string]string) {
	t.Helper()
	after := c.state(t)
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if after[k] == before[k] {
			continue
		}
		was, now := strings.Split(before[k], "\n"), strings.Split(after[k], "\n")
		i := 0
		for i < len(was) && i < len(now) && was[i] == now[i] {
			i++
		}
		t.Errorf("%s changed at line %d:\n\tnow %.300q\n\twas %.300q", k, i+1, line(now, i), line(was, i))
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(nothing)"
}

// badInputWorld is a world with something to break: network web with
// endpoint a (10.30.0.2, 8080:80 published), internal network inner with
// endpoint b.
func badInputWorld(t *testing.T) (*world.World, string, string) {
	t.Helper()
	w := newWorld(t)
	a, b := w.Name("a"), w.Name("b")
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	w.MustCLI("network", "create", "inner", "--subnet", "10.31.0.0/24", "--internal")
	w.MustCLI("endpoint", "create", a, "--network", "web", "-p", "8080:80")
	w.MustCLI("endpoint", "create", b, "--network", "inner")
	return w, a, b
}

// Issue 6, point 6: bad input through the raw API gets a 4xx of the right
// class with a JSON error naming the problem, and changes nothing.
func TestBadInputAPI(t *testing.T) {
	t.Parallel()
	w, a, b := badInputWorld(t)
	c := newAPIClient(w)
	long := strings.Repeat("n", 65)
	body := func(format string, args ...any) string { return fmt.Sprintf(format, args...) }
	withNet := func(fields string) string { return `{"name":"n1","subnet":"10.40.0.0/24"` + fields + `}` }
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		// Bodies that are not what the call takes.
		{"malformed JSON", "POST", "/v1/networks", `{"name":`, 400, "bad request body"},
		{"unknown field", "POST", "/v1/networks", withNet(`,"colour":"red"`), 400, `unknown field "colour"`},
		{"name of the wrong type", "POST", "/v1/networks", `{"name":42}`, 400, "cannot unmarshal number"},
		{"mtu of the wrong type", "POST", "/v1/networks", withNet(`,"mtu":"1500"`), 400, "cannot unmarshal string"},
		{"internal of the wrong type", "POST", "/v1/networks", withNet(`,"internal":"yes"`), 400, "cannot unmarshal string"},
		{"options as a list", "POST", "/v1/networks", withNet(`,"options":["icc=false"]`), 400, "cannot unmarshal array"},
		{"option value of the wrong type", "POST", "/v1/networks", withNet(`,"options":{"icc":false}`), 400, "cannot unmarshal bool"},
		{"empty body", "POST", "/v1/networks", ``, 400, "request body is empty"},
		{"two JSON values", "POST", "/v1/networks", withNet(``) + withNet(``), 400, "more than one JSON value"},
		{"trailing garbage", "POST", "/v1/networks", withNet(``) + " x", 400, "trailing data"},
		{"a list for an object", "POST", "/v1/networks", `[]`, 400, "cannot unmarshal array"},
		{"null", "POST", "/v1/networks", `null`, 400, "network name is empty"},
		{"oversized body", "POST", "/v1/networks", withNet(`,"bridge":"` + strings.Repeat("b", 1<<20) + `"`), 413, "over 1048576 bytes"},
		{"body where none is taken", "POST", "/v1/daemon/stop", `{"force":true}`, 400, `unknown field "force"`},
		{"body on a listing", "GET", "/v1/networks", `{"name":"web"}`, 400, `unknown field "name"`},
		// Names.
		{"empty name", "POST", "/v1/networks", `{"name":""}`, 400, "network name is empty"},
		{"name with a slash", "POST", "/v1/networks", `{"name":"a/b"}`, 400, `network name "a/b" is invalid`},
		{"name ..", "POST", "/v1/networks", `{"name":".."}`, 400, `network name ".." is invalid`},
		{"name climbing out", "POST", "/v1/networks", `{"name":"../../etc/passwd"}`, 400, "is invalid"},
		{"name over 64 bytes", "POST", "/v1/networks", body(`{"name":%q}`, long), 400, "longer than 64 bytes"},
		{"name with NUL", "POST", "/v1/networks", `{"name":"a\u0000b"}`, 400, "is invalid"},
		{"name not ASCII", "POST", "/v1/networks", `{"name":"ünï"}`, 400, "is invalid"},
		{"name with a space", "POST", "/v1/networks", `{"name":"a b"}`, 400, "is invalid"},
		{"network name taken", "POST", "/v1/networks", `{"name":"web","subnet":"10.40.0.0/24"}`, 409, `network "web" already exists`},
		// Addresses and devices.
		{"subnet not a CIDR", "POST", "/v1/networks", `{"name":"n1","subnet":"10.40.0.0"}`, 400, "is not an IPv4 CIDR"},
		{"subnet IPv6", "POST", "/v1/networks", `{"name":"n1","subnet":"fd00::/64"}`, 400, "is not an IPv4 CIDR"},
		{"subnet with host bits", "POST", "/v1/networks", `{"name":"n1","subnet":"10.40.0.1/24"}`, 400, "did you mean 10.40.0.0/24"},
		{"subnet /31", "POST", "/v1/networks", `{"name":"n1","subnet":"10.40.0.0/31"}`, 400, "too small"},
		{"subnet of 1000 bytes", "POST", "/v1/networks", body(`{"name":"n1","subnet":%q}`, strings.Repeat("1", 1000)), 400, "is not an IPv4 CIDR"},
		{"subnet overlapping", "POST", "/v1/networks", `{"name":"n1","subnet":"10.30.0.128/25"}`, 409, `overlaps network "web"`},
		{"gateway outside", "POST", "/v1/networks", withNet(`,"gateway":"10.41.0.1"`), 400, "outside the subnet"},
		{"gateway not an address", "POST", "/v1/networks", withNet(`,"gateway":"router"`), 400, `gateway "router" is not an IPv4 address`},
		{"gateway the broadcast", "POST", "/v1/networks", withNet(`,"gateway":"10.40.0.255"`), 400, "broadcast"},
		{"gateway without subnet", "POST", "/v1/networks", `{"name":"n1","gateway":"10.40.0.1"}`, 400, "need --subnet"},
		{"ip-range outside", "POST", "/v1/networks", withNet(`,"ip_range":"10.41.0.0/28"`), 400, "outside the subnet"},
		{"ip-range not a CIDR", "POST", "/v1/networks", withNet(`,"ip_range":"10.40.0.0-10.40.0.9"`), 400, "is not an IPv4 CIDR"},
		{"mtu too small", "POST", "/v1/networks", withNet(`,"mtu":20`), 400, "mtu 20 is out of range"},
		{"mtu too big", "POST", "/v1/networks", withNet(`,"mtu":70000`), 400, "mtu 70000 is out of range"},
		{"mtu negative", "POST", "/v1/networks", withNet(`,"mtu":-5`), 400, "mtu -5 is out of range"},
		{"unknown option", "POST", "/v1/networks", withNet(`,"options":{"colour":"red"}`), 400, `unknown network option "colour"`},
		{"option not a bool", "POST", "/v1/networks", withNet(`,"options":{"icc":"maybe"}`), 400, `option icc="maybe": want true or false`},
		{"option not a number", "POST", "/v1/networks", withNet(`,"options":{"mtu":"big"}`), 400, `option mtu="big": want a number`},
		{"bridge with a slash", "POST", "/v1/networks", withNet(`,"bridge":"br/x"`), 400, `interface name "br/x" is invalid`},
		{"bridge over 15 bytes", "POST", "/v1/networks", withNet(`,"bridge":"br-0123456789abc"`), 400, "longer than 15 bytes"},
		{"bridge a device of the node", "POST", "/v1/networks", withNet(`,"bridge":"up0"`), 409, "a device named up0 already exists"},
		// Endpoints.
		{"endpoint name with a slash", "POST", "/v1/endpoints", `{"name":"x/y"}`, 400, `endpoint name "x/y" is invalid`},
		{"endpoint name ..", "POST", "/v1/endpoints", `{"name":".."}`, 400, "is invalid"},
		{"endpoint name taken", "POST", "/v1/endpoints", body(`{"name":%q}`, a), 409, "already exists"},
		{"endpoint on no such network", "POST", "/v1/endpoints", `{"name":"e1","network":"nope"}`, 404, `network "nope" not found`},
		{"endpoint ip not an address", "POST", "/v1/endpoints", `{"name":"e1","network":"web","ip":"10.30.0.300"}`, 400, "is not an IPv4 address"},
		{"endpoint ip outside", "POST", "/v1/endpoints", `{"name":"e1","network":"web","ip":"10.31.0.9"}`, 400, "outside the subnet"},
		{"endpoint ip in use", "POST", "/v1/endpoints", `{"name":"e1","network":"web","ip":"10.30.0.2"}`, 409, "already in use"},
		{"endpoint ip the gateway", "POST", "/v1/endpoints", `{"name":"e1","network":"web","ip":"10.30.0.1"}`, 400, "is the gateway"},
		{"netns relative", "POST", "/v1/endpoints", `{"name":"e1","netns":"run/netns/x"}`, 400, "is not absolute"},
		{"netns not a namespace", "POST", "/v1/endpoints", `{"name":"e1","netns":"/etc/hostname"}`, 400, "not a network namespace"},
		{"netns missing", "POST", "/v1/endpoints", `{"name":"e1","netns":"/run/netns/nope-nope"}`, 400, "no such file"},
		{"netns the daemon's", "POST", "/v1/endpoints", body(`{"name":"e1","netns":"/run/netns/%s"}`, w.Node), 400, "daemon's own"},
		{"publish a bad spec", "POST", "/v1/endpoints", `{"name":"e1","network":"web","publish":["0:80"]}`, 400, "port 0 is out of range"},
		{"publish as a string", "POST", "/v1/endpoints", `{"name":"e1","publish":"80"}`, 400, "cannot unmarshal string"},
		{"publish a taken port", "POST", "/v1/endpoints", `{"name":"e1","network":"web","publish":["8080:80"]}`, 409, "port is already allocated"},
		{"publish on an internal network", "POST", "/v1/endpoints", `{"name":"e1","network":"inner","publish":["80"]}`, 409, "internal network"},
		// Connect and disconnect.
		{"connect to no such network", "POST", "/v1/networks/nope/connect", body(`{"endpoint":%q}`, a), 404, `network "nope" not found`},
		{"connect no such endpoint", "POST", "/v1/networks/inner/connect", `{"endpoint":"nope"}`, 404, `endpoint "nope" not found`},
		{"connect without endpoint", "POST", "/v1/networks/inner/connect", `{}`, 400, "endpoint name is empty"},
		{"connect twice", "POST", "/v1/networks/web/connect", body(`{"endpoint":%q}`, a), 409, "already connected"},
		{"connect with a bad ip", "POST", "/v1/networks/inner/connect", body(`{"endpoint":%q,"ip":"x"}`, a), 400, `ip "x" is not an IPv4 address`},
		{"connect with another subnet's ip", "POST", "/v1/networks/inner/connect", body(`{"endpoint":%q,"ip":"10.30.0.9"}`, a), 400, "outside the subnet"},
		{"disconnect what is not connected", "POST", "/v1/networks/inner/disconnect", body(`{"endpoint":%q}`, a), 409, "is not connected"},
		// Publications.
		{"publish on no such endpoint", "POST", "/v1/endpoints/nope/publish", `{"specs":["80"]}`, 404, `endpoint "nope" not found`},
		{"publish nothing", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":[]}`, 400, "no port spec given"},
		{"publish without specs", "POST", "/v1/endpoints/" + a + "/publish", `{}`, 400, "no port spec given"},
		{"publish null spec", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":[null]}`, 400, "empty port spec"},
		{"publish specs as a string", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":"80"}`, 400, "cannot unmarshal string"},
		{"publish port 65536", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["65536:80"]}`, 400, "port 65536 is out of range"},
		{"publish a reversed range", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["90-80"]}`, 400, "range 90-80 is reversed"},
		{"publish a spec of 1000 bytes", "POST", "/v1/endpoints/" + a + "/publish", body(`{"specs":[%q]}`, strings.Repeat("8", 1000)), 400, "longer than 64 bytes"},
		{"publish IPv6", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["[::1]:8081:80"]}`, 400, "IPv6 is not supported"},
		{"publish dccp", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["8081:80/dccp"]}`, 400, `unknown protocol "dccp"`},
		{"publish sctp to another port", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["8081:80/sctp"]}`, 400, "published on the same host port only"},
		{"publish on no address of the node", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["203.0.113.9:8081:80"]}`, 400, "not an address of the node"},
		{"publish a published port", "POST", "/v1/endpoints/" + a + "/publish", `{"specs":["8080:81"]}`, 409, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"publish from an internal network", "POST", "/v1/endpoints/" + b + "/publish", `{"specs":["80"]}`, 409, "internal network"},
		{"unpublish a bad spec", "POST", "/v1/endpoints/" + a + "/unpublish", `{"specs":["80:0"]}`, 400, "port 0 is out of range"},
		{"unpublish what is not published", "POST", "/v1/endpoints/" + a + "/unpublish", `{"specs":["9999"]}`, 404, "matches 9999"},
		{"unpublish on no such endpoint", "POST", "/v1/endpoints/nope/unpublish", `{"specs":["80"]}`, 404, `endpoint "nope" not found`},
		// Removals and lookups of what is not there, or may not go.
		{"remove no such network", "DELETE", "/v1/networks/nope", ``, 404, `network "nope" not found`},
		{"remove the default network", "DELETE", "/v1/networks/bridge", ``, 409, "is the default network"},
		{"remove a network in use", "DELETE", "/v1/networks/web", ``, 409, "has 1 endpoint(s): " + a},
		{"remove no such endpoint", "DELETE", "/v1/endpoints/nope", ``, 404, `endpoint "nope" not found`},
		{"inspect no such network", "GET", "/v1/networks/nope", ``, 404, `network "nope" not found`},
		{"inspect no such endpoint", "GET", "/v1/endpoints/nope", ``, 404, `endpoint "nope" not found`},
		{"ports of no such endpoint", "GET", "/v1/ports?endpoint=nope", ``, 404, `endpoint "nope" not found`},
		{"endpoint name with an escaped slash", "GET", "/v1/endpoints/a%2Fb", ``, 404, `endpoint "a/b" not found`},
		{"removal climbing out", "DELETE", "/v1/endpoints/..%2F..%2Fetc", ``, 400, "is not clean"},
		{"dot segments to another call", "POST", "/v1/networks/../daemon/stop", ``, 400, "is not clean"},
		{"empty segment", "GET", "/v1//networks", ``, 400, "is not clean"},
		// Routes and methods.
		{"no such route", "GET", "/v1/frobnicate", ``, 404, "no API route GET /v1/frobnicate"},
		{"no such version", "GET", "/v2/status", ``, 404, "no API route"},
		{"wrong method on a collection", "PUT", "/v1/networks", ``, 405, "takes GET or POST"},
		{"wrong method on a call", "GET", "/v1/daemon/stop", ``, 405, "takes POST"},
		{"delete the status", "DELETE", "/v1/status", ``, 405, "takes GET"},
		{"bad trace mode", "POST", "/v1/bpf/trace", `{"mode":"loud"}`, 400, `trace mode "loud": want off, drops or all`},
		{"trace mode of the wrong type", "POST", "/v1/bpf/trace", `{"mode":1}`, 400, "cannot unmarshal number"},
	}
	before := c.settled(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := c.do(t, tc.method, tc.path, []byte(tc.body))
			var eb api.ErrorBody
			if err := json.Unmarshal(out, &eb); err != nil || eb.Error == "" {
				t.Fatalf("%s %s: %d with no JSON error: %q", tc.method, tc.path, code, out)
			}
			if code != tc.code || !strings.Contains(eb.Error, tc.want) {
				t.Errorf("%s %s: %d %q; want %d and an error with %q", tc.method, tc.path, code, eb.Error, tc.code, tc.want)
			}
			c.unchanged(t, before)
		})
	}
	if len(cases) < 50 {
		t.Fatalf("%d cases; the issue asks for at least 50", len(cases))
	}
}

// Issue 6, point 6: bad input through the CLI fails with a message naming
// the problem, and changes nothing.
func TestBadInputCLI(t *testing.T) {
	t.Parallel()
	w, a, b := badInputWorld(t)
	c := newAPIClient(w)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"network name with a slash", []string{"network", "create", "a/b"}, `network name "a/b" is invalid`},
		{"network name ..", []string{"network", "create", ".."}, "is invalid"},
		{"network name empty", []string{"network", "create", ""}, "network name is empty"},
		{"network without a name", []string{"network", "create"}, "'ebpfnet network create' requires 1 argument"},
		{"network subnet not a CIDR", []string{"network", "create", "n1", "--subnet", "10.40.0.0"}, `subnet "10.40.0.0" is not an IPv4 CIDR`},
		{"network subnet IPv6", []string{"network", "create", "n1", "--subnet", "fd00::/64"}, "is not an IPv4 CIDR"},
		{"network subnet overlapping", []string{"network", "create", "n1", "--subnet", "10.30.0.0/25"}, `overlaps network "web"`},
		{"network gateway not an address", []string{"network", "create", "n1", "--subnet", "10.40.0.0/24", "--gateway", "nope"}, `gateway "nope" is not an IPv4 address`},
		{"network mtu not a number", []string{"network", "create", "n1", "--mtu", "abc"}, `invalid value "abc" for flag -mtu`},
		{"network option without value", []string{"network", "create", "n1", "--opt", "icc"}, `option "icc": want key=value`},
		{"network option not a bool", []string{"network", "create", "n1", "--opt", "icc=maybe"}, "want true or false"},
		{"network unknown flag", []string{"network", "create", "n1", "--colour", "red"}, "flag provided but not defined: -colour"},
		{"network name taken", []string{"network", "create", "web"}, `network "web" already exists`},
		{"remove no such network", []string{"network", "rm", "nope"}, `network "nope" not found`},
		{"remove the default network", []string{"network", "rm", "bridge"}, "is the default network"},
		{"remove a network in use", []string{"network", "rm", "web"}, "remove or disconnect them first"},
		{"inspect no such network", []string{"network", "inspect", "nope"}, `network "nope" not found`},
		{"connect to no such network", []string{"network", "connect", "nope", a}, `network "nope" not found`},
		{"connect no such endpoint", []string{"network", "connect", "inner", "nope"}, `endpoint "nope" not found`},
		{"connect twice", []string{"network", "connect", "web", a}, "already connected"},
		{"disconnect what is not connected", []string{"network", "disconnect", "inner", a}, "is not connected"},
		{"endpoint name climbing out", []string{"endpoint", "create", "../x"}, `endpoint name "../x" is invalid`},
		{"endpoint on no such network", []string{"endpoint", "create", "e1", "--network", "nope"}, `network "nope" not found`},
		{"endpoint ip not an address", []string{"endpoint", "create", "e1", "--network", "web", "--ip", "999.1.1.1"}, "is not an IPv4 address"},
		{"endpoint netns relative", []string{"endpoint", "create", "e1", "--netns", "x"}, "is not absolute"},
		{"endpoint publishing a bad port", []string{"endpoint", "create", "e1", "--network", "web", "-p", "99999"}, "port 99999 is out of range"},
		{"endpoint publishing a taken port", []string{"endpoint", "create", "e1", "--network", "web", "-p", "8080:80"}, "Bind for 0.0.0.0:8080 failed: port is already allocated"},
		{"endpoint publishing from an internal network", []string{"endpoint", "create", "e1", "--network", "inner", "-p", "80"}, "internal network"},
		{"remove no such endpoint", []string{"endpoint", "rm", "nope"}, `endpoint "nope" not found`},
		{"inspect no such endpoint", []string{"endpoint", "inspect", "nope"}, `endpoint "nope" not found`},
		{"publish port 0", []string{"publish", a, "0:80"}, "port 0 is out of range"},
		{"publish dccp", []string{"publish", a, "80/dccp"}, `unknown protocol "dccp"`},
		{"publish on no such endpoint", []string{"publish", "nope", "80"}, `endpoint "nope" not found`},
		{"publish IPv6", []string{"publish", a, "::1:80:80"}, "IPv6 is not supported"},
		{"publish a spec over 64 bytes", []string{"publish", a, strings.Repeat("8", 70)}, "longer than 64 bytes"},
		{"publish without spec", []string{"publish", a}, "'ebpfnet publish' requires at least 2 arguments"},
		{"publish from an internal network", []string{"publish", b, "80"}, "internal network"},
		{"unpublish what is not published", []string{"unpublish", a, "9999"}, `no publication of "` + a + `" matches 9999`},
		{"unpublish a bad spec", []string{"unpublish", a, "0"}, "port 0 is out of range"},
		{"unpublish on no such endpoint", []string{"unpublish", "nope", "80"}, `endpoint "nope" not found`},
		{"ports of no such endpoint", []string{"port", "nope"}, `endpoint "nope" not found`},
		{"bad trace mode", []string{"bpf", "trace", "loud"}, "want off, drops or all"},
		{"no such command", []string{"frobnicate"}, "unknown command: ebpfnet frobnicate"},
	}
	before := c.settled(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustFailCLI(t, w, tc.want, tc.args...)
			c.unchanged(t, before)
		})
	}
}
