package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestEndpointLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	out := w.MustCLI("endpoint", "create", a, "--network", "web")
	if want := a + " eth0 10.10.0.2 on web, netns /run/netns/" + a; strings.TrimSpace(out) != want {
		t.Fatalf("endpoint create printed %q, want %q", out, want)
	}
	w.MustCLI("endpoint", "create", b, "--network", "web", "--ip", "10.10.0.50")

	// A named netns, usable with ip netns exec.
	addr, err := exec.Command("ip", "netns", "exec", a, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(addr), " 10.10.0.2/24 ") {
		t.Fatalf("ip netns exec %s: %v\n%s", a, err, addr)
	}
	if route := w.MustExec(a, "ip", "route", "show", "default"); !strings.Contains(route, "via 10.10.0.1 dev eth0") {
		t.Fatalf("default route of %s is not via the gateway:\n%s", a, route)
	}
	ep := inspectEndpoint(t, w, a)
	ifc := ep.Interfaces[0]
	if ep.Netns != "/run/netns/"+a || !ep.OwnNetns || ep.State != "ready" || len(ep.Interfaces) != 1 ||
		ifc.Name != "eth0" || ifc.Network != "web" || ifc.IP != "10.10.0.2" || ifc.HostIfindex == 0 {
		t.Fatalf("inspect %s: %+v", a, ep)
	}
	if mac := links(t, w, a)["eth0"].Addr; mac != ifc.MAC {
		t.Fatalf("eth0 in %s has MAC %s, inspect says %s", a, mac, ifc.MAC)
	}
	host := links(t, w, w.Node)[ifc.HostName]
	if host.Index != ifc.HostIfindex || host.Master != inspectNetwork(t, w, "web").Bridge {
		t.Fatalf("host side %s: %+v, want ifindex %d on web's bridge", ifc.HostName, host, ifc.HostIfindex)
	}
	if got := inspectEndpoint(t, w, b).Interfaces[0].IP; got != "10.10.0.50" {
		t.Fatalf("--ip 10.10.0.50 gave %s", got)
	}
	ls := w.MustCLI("endpoint", "ls")
	if !strings.Contains(ls, a) || !strings.Contains(ls, "eth0=10.10.0.50(web)") {
		t.Fatalf("endpoint ls:\n%s", ls)
	}
	mustPing(t, w, a, "10.10.0.50")
	if !bpfEndpoint(t, w, "10.10.0.2", a) {
		t.Fatalf("bpf endpoints does not show %s:\n%s", a, w.MustCLI("bpf", "endpoints"))
	}

	w.MustCLI("endpoint", "rm", a)
	if _, err := os.Stat("/run/netns/" + a); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("endpoint rm left /run/netns/%s (%v)", a, err)
	}
	if _, ok := links(t, w, w.Node)[ifc.HostName]; ok {
		t.Fatalf("endpoint rm left the veth %s", ifc.HostName)
	}
	if bpfEndpoint(t, w, "10.10.0.2", "") {
		t.Fatalf("endpoint rm left 10.10.0.2 in enet_endpoints:\n%s", w.MustCLI("bpf", "endpoints"))
	}
	mustFailCLI(t, w, "not found", "endpoint", "inspect", a)
	// The address is free again; the name too.
	w.MustCLI("endpoint", "create", a, "--network", "web", "--ip", "10.10.0.2")
	mustPing(t, w, b, "10.10.0.2")
}

// bpfEndpoint says whether enet_endpoints maps ip, to endpoint if not "".
func bpfEndpoint(t *testing.T, w *world.World, ip, endpoint string) bool {
	t.Helper()
	for _, e := range cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json") {
		if e.IP == ip && (endpoint == "" || e.Endpoint == endpoint) {
			return true
		}
	}
	return false
}

func TestEndpointCreateErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	a := w.Name("a")
	w.MustCLI("endpoint", "create", a, "--network", "web")
	linksBefore := linkNames(t, w, w.Node)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"address in use", []string{w.Name("x"), "--network", "web", "--ip", "10.10.0.2"}, "already in use"},
		{"address outside the subnet", []string{w.Name("x"), "--network", "web", "--ip", "10.11.0.2"}, "outside the subnet"},
		{"the gateway", []string{w.Name("x"), "--network", "web", "--ip", "10.10.0.1"}, "is the gateway"},
		{"the broadcast", []string{w.Name("x"), "--network", "web", "--ip", "10.10.0.255"}, "broadcast"},
		{"no such network", []string{w.Name("x"), "--network", "nope"}, `network "nope" not found`},
		{"duplicate name", []string{a, "--network", "web"}, "already exists"},
		{"bad name", []string{"a/b", "--network", "web"}, "is invalid"},
		{"netns of another endpoint", []string{w.Name("x"), "--netns", "/run/netns/" + a}, "already endpoint"},
		{"the daemon's own netns", []string{w.Name("x"), "--netns", "/run/netns/" + w.Node}, "daemon's own network namespace"},
		{"not a netns", []string{w.Name("x"), "--netns", "/etc/hostname"}, "not a network namespace"},
		{"relative netns path", []string{w.Name("x"), "--netns", "run/netns/x"}, "not absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustFailCLI(t, w, tc.want, append([]string{"endpoint", "create"}, tc.args...)...)
			if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 1 {
				t.Fatalf("endpoints after a refused create: %+v", eps)
			}
			if got := linkNames(t, w, w.Node); got != linksBefore {
				t.Fatalf("node devices after a refused create: %s, want %s", got, linksBefore)
			}
			if _, err := os.Stat("/run/netns/" + w.Name("x")); err == nil {
				t.Fatalf("a refused create left /run/netns/%s", w.Name("x"))
			}
		})
	}
}

func TestEndpointAdoptsNetns(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	peer := w.Name("peer")
	w.MustCLI("endpoint", "create", peer, "--network", "web")

	named := w.Name("named")
	w.MustExec(w.Node, "ip", "netns", "add", named)
	// A process in a netns of its own with no name: only it holds the netns.
	sleeper := exec.Command("unshare", "--net", "--", "sleep", "120")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	proc := "/proc/" + strconv.Itoa(sleeper.Process.Pid)
	unshared := world.Wait(5*time.Second, func() bool { // unshare has become sleep
		comm, _ := os.ReadFile(proc + "/comm")
		return string(comm) == "sleep\n"
	})
	if !unshared {
		t.Fatalf("unshare --net sleep did not start")
	}
	procNs := proc + "/ns/net"

	cases := []struct {
		name, path string
		run        func(argv ...string) (string, error) // inside the adopted netns
	}{
		{"/run/netns/NAME", "/run/netns/" + named, func(argv ...string) (string, error) { return w.Exec(named, argv...) }},
		{"/proc/PID/ns/net", procNs, func(argv ...string) (string, error) {
			out, err := exec.Command("nsenter", append([]string{"--net=" + procNs, "--"}, argv...)...).CombinedOutput()
			return string(out), err
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := w.Name("adopter" + strconv.Itoa(i))
			w.MustCLI("endpoint", "create", name, "--network", "web", "--netns", tc.path)
			ep := inspectEndpoint(t, w, name)
			if ep.OwnNetns || ep.Netns != tc.path {
				t.Fatalf("inspect %s: netns %s, own %v; want %s, adopted", name, ep.Netns, ep.OwnNetns, tc.path)
			}
			if _, err := os.Stat("/run/netns/" + name); err == nil {
				t.Fatalf("adopting created /run/netns/%s", name)
			}
			ip := ep.Interfaces[0].IP
			if out, err := tc.run("ip", "-4", "-o", "addr", "show", "dev", "eth0"); err != nil || !strings.Contains(out, " "+ip+"/24 ") {
				t.Fatalf("eth0 in %s: %v\n%s", tc.path, err, out)
			}
			if out, err := tc.run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", "10.10.0.2"); err != nil {
				t.Fatalf("ping from %s: %v\n%s", tc.path, err, out)
			}
			mustPing(t, w, peer, ip)
			mustFailCLI(t, w, "already endpoint", "endpoint", "create", w.Name("again"), "--network", "web", "--netns", tc.path)

			w.MustCLI("endpoint", "rm", name)
			out, err := tc.run("ip", "-o", "link", "show")
			if err != nil || strings.Contains(out, "eth0") {
				t.Fatalf("after rm the adopted netns must stay, without eth0: %v\n%s", err, out)
			}
		})
	}
}

func TestConnectDisconnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "front", "--subnet", "10.30.0.0/24")
	w.MustCLI("network", "create", "back", "--subnet", "10.31.0.0/24")
	app, db, web := w.Name("app"), w.Name("db"), w.Name("web")
	w.MustCLI("endpoint", "create", app, "--network", "front")
	w.MustCLI("endpoint", "create", web, "--network", "front")
	w.MustCLI("endpoint", "create", db, "--network", "back")
	mustNotPing(t, w, app, "10.31.0.2")

	out := w.MustCLI("network", "connect", "back", app, "--ip", "10.31.0.20")
	if want := app + " eth1 10.31.0.20 on back"; strings.TrimSpace(out) != want {
		t.Fatalf("connect printed %q, want %q", out, want)
	}
	if addr := w.MustExec(app, "ip", "-4", "-o", "addr", "show", "dev", "eth1"); !strings.Contains(addr, " 10.31.0.20/24 ") {
		t.Fatalf("eth1 in %s:\n%s", app, addr)
	}
	ep := inspectEndpoint(t, w, app)
	if len(ep.Interfaces) != 2 || ep.Interfaces[1].Name != "eth1" || ep.Interfaces[1].Network != "back" {
		t.Fatalf("inspect after connect: %+v", ep.Interfaces)
	}
	if n := inspectNetwork(t, w, "back"); strings.Join(n.Endpoints, ",") != strings.Join(sortedPair(app, db), ",") {
		t.Fatalf("back lists endpoints %v", n.Endpoints)
	}
	grows(t, w, app, "forward-peer", func() { mustPing(t, w, app, "10.31.0.2") })
	mustPing(t, w, db, "10.31.0.20")
	mustPing(t, w, app, "10.30.0.3") // eth0 still works
	// The default route stays on eth0.
	if route := w.MustExec(app, "ip", "route", "show", "default"); !strings.Contains(route, "via 10.30.0.1 dev eth0") {
		t.Fatalf("default route after connect:\n%s", route)
	}
	mustFailCLI(t, w, "already connected", "network", "connect", "back", app)

	backHost := ep.Interfaces[1].HostName
	w.MustCLI("network", "disconnect", "back", app)
	if _, ok := links(t, w, app)["eth1"]; ok {
		t.Fatalf("eth1 is still in %s after disconnect", app)
	}
	if _, ok := links(t, w, w.Node)[backHost]; ok {
		t.Fatalf("the host side %s is still there after disconnect", backHost)
	}
	if bpfEndpoint(t, w, "10.31.0.20", "") {
		t.Fatalf("10.31.0.20 is still in enet_endpoints after disconnect")
	}
	mustNotPing(t, w, app, "10.31.0.2")
	mustPing(t, w, app, "10.30.0.3")
	mustFailCLI(t, w, "not connected", "network", "disconnect", "back", app)
}

func sortedPair(a, b string) []string {
	if b < a {
		return []string{b, a}
	}
	return []string{a, b}
}

func TestAddressesAfterWrap(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "tiny", "--subnet", "10.40.0.0/29") // .2 to .6
	for i := 2; i <= 6; i++ {
		name := w.Name("e" + strconv.Itoa(i))
		w.MustCLI("endpoint", "create", name, "--network", "tiny")
		if ip := inspectEndpoint(t, w, name).Interfaces[0].IP; ip != "10.40.0."+strconv.Itoa(i) {
			t.Fatalf("endpoint %d got %s", i, ip)
		}
	}
	mustFailCLI(t, w, `network "tiny" has no free address left`, "endpoint", "create", w.Name("full"), "--network", "tiny")
	w.MustCLI("endpoint", "rm", w.Name("e3"))
	w.MustCLI("endpoint", "create", w.Name("again"), "--network", "tiny")
	if ip := inspectEndpoint(t, w, w.Name("again")).Interfaces[0].IP; ip != "10.40.0.3" {
		t.Fatalf("after the wrap the freed 10.40.0.3 should come next, got %s", ip)
	}
	mustPing(t, w, w.Name("e2"), "10.40.0.3")
}

func TestDisconnectFirstInterface(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "one", "--subnet", "10.30.0.0/24")
	w.MustCLI("network", "create", "two", "--subnet", "10.31.0.0/24")
	a := w.Name("a")
	w.MustCLI("endpoint", "create", a, "--network", "one")
	w.MustCLI("network", "connect", "two", a)

	b := w.Name("b")
	w.MustCLI("endpoint", "create", b, "--network", "one")
	before := linkNames(t, w, w.Node)
	mustFailCLI(t, w, "10.31.0.2 is already in use", "network", "connect", "two", b, "--ip", "10.31.0.2")
	mustFailCLI(t, w, `endpoint "`+w.Name("none")+`" not found`, "network", "connect", "two", w.Name("none"))
	mustFailCLI(t, w, `network "three" not found`, "network", "connect", "three", b)
	if got := linkNames(t, w, w.Node); got != before {
		t.Fatalf("a refused connect changed the node's devices: %s, was %s", got, before)
	}

	w.MustCLI("network", "disconnect", "one", a)
	if got := linkNames(t, w, a); got != "eth1 lo" {
		t.Fatalf("devices in %s after disconnecting eth0: %s", a, got)
	}
	// The default route moves to the interface that is left.
	if route := w.MustExec(a, "ip", "route", "show", "default"); !strings.Contains(route, "via 10.31.0.1 dev eth1") {
		t.Fatalf("default route after disconnecting eth0:\n%s", route)
	}
	mustPing(t, w, a, "10.31.0.1")
}

func TestEndpointCreateRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	busy := w.Name("busy")
	w.MustExec(w.Node, "ip", "netns", "add", busy)
	w.MustExec(busy, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	before := linkNames(t, w, w.Node)
	mustFailCLI(t, w, "eth0 already exists in /run/netns/"+busy, "endpoint", "create", w.Name("x"), "--netns", "/run/netns/"+busy)
	if got := linkNames(t, w, w.Node); got != before {
		t.Fatalf("a failed create left devices in the node: %s, was %s", got, before)
	}
	if got := linkNames(t, w, busy); got != "eth0 eth0p lo" {
		t.Fatalf("a failed create changed the adopted netns: %s", got)
	}
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 0 {
		t.Fatalf("a failed create left endpoints: %+v", eps)
	}
	if bpf := cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json"); len(bpf) != 0 {
		t.Fatalf("a failed create left map entries: %+v", bpf)
	}
	// The address it had taken, the default network's first, is free.
	w.MustCLI("endpoint", "create", w.Name("y"), "--ip", "172.17.0.2")
}
