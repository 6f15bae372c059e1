package e2e

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Issue 11, must-hold 4: network prune removes the networks without
// endpoints but the default one, after asking as docker network prune
// does (no is the default), and prints what it removed as Docker does.
func TestNetworkPrune(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, n := range []string{"busy", "empty1", "empty2"} {
		w.MustCLI("network", "create", n)
	}
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "busy")
	empty1 := inspectNetwork(t, w, "empty1").Bridge

	const ask = "WARNING! This will remove all custom networks not used by at least one endpoint.\n" +
		"Are you sure you want to continue? [y/N] "
	cliRun(t, w, "n\n", "network", "prune").must(t, "prune, answered no", 0, ask, "")
	cliRun(t, w, "", "network", "prune").must(t, "prune, not answered", 0, ask, "")
	if got := networkNames(t, w); strings.Count(got, "=") != 4 {
		t.Fatalf("networks after a declined prune: %s", got)
	}
	cliRun(t, w, "y\n", "network", "prune").must(t, "prune, answered yes", 0, ask+"Deleted Networks:\nempty1\nempty2\n\n", "")
	var names []string
	for _, n := range cliJSON[[]api.Network](t, w, "network", "ls", "--json") {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, []string{"bridge", "busy"}) {
		t.Fatalf("networks after prune: %v", names)
	}
	if _, ok := links(t, w, w.Node)[empty1]; ok {
		t.Fatalf("prune left the bridge %s", empty1)
	}
	cliRun(t, w, "", "network", "prune", "-f").must(t, "prune -f with nothing to prune", 0, "", "")
	w.MustCLI("network", "create", "again")
	cliRun(t, w, "", "network", "prune", "--force").must(t, "prune --force", 0, "Deleted Networks:\nagain\n\n", "")
}

// Issue 11, must-hold 4: network ls -q, --filter and --format as
// Docker's; rm of several names goes on past one it cannot remove.
func TestNetworkListAndRemoveAsDocker(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "web-old", "--subnet", "10.11.0.0/24", "--internal")
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "web")

	cliRun(t, w, "", "network", "ls", "-q").must(t, "ls -q", 0, "bridge\nweb\nweb-old\n", "")
	cliRun(t, w, "", "network", "ls", "-q", "--filter", "dangling=true").must(t, "dangling", 0, "web-old\n", "")
	cliRun(t, w, "", "network", "ls", "-q", "-f", "type=builtin").must(t, "builtin", 0, "bridge\n", "")
	cliRun(t, w, "", "network", "ls", "-q", "-f", "name=^web", "-f", "type=custom").must(t, "name and type", 0, "web\nweb-old\n", "")
	cliRun(t, w, "", "network", "ls", "-q", "-f", "driver=overlay").must(t, "another driver", 0, "", "")
	cliRun(t, w, "", "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Internal}}", "-f", "name=web").
		must(t, "format", 0, "web bridge false\nweb-old bridge true\n", "")
	cliRun(t, w, "", "network", "ls", "--format", `table {{.Name}}\t{{.Scope}}`, "-f", "name=^web$").
		must(t, "table format", 0, "NAME  SCOPE\nweb   local\n", "")
	lines := strings.Split(strings.TrimSpace(w.MustCLI("network", "ls", "--format", "json")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], `{"name":"web",`) {
		t.Fatalf("ls --format json:\n%s", strings.Join(lines, "\n"))
	}
	cliRun(t, w, "", "network", "ls", "-f", "colour=red").must(t, "an unknown filter", 1, "", "ebpfnet: invalid filter 'colour'\n")

	w.MustCLI("network", "create", "x1")
	w.MustCLI("network", "create", "x2")
	cliRun(t, w, "", "network", "rm", "x1", "nope", "web", "x2").must(t, "rm of several", 1, "x1\nx2\n",
		"Error response from daemon: network \"nope\" not found\n"+
			"Error response from daemon: network \"web\" has 1 endpoint(s): "+w.Name("a")+"; remove or disconnect them first\n")
	cliRun(t, w, "", "network", "rm", "-f", "nope", "web-old").must(t, "rm -f", 0, "web-old\n", "")
}

// Issue 11, found 7: endpoint create with several --network joins each,
// in order, as docker run (25+) does: eth0 and the default route on the
// first, eth1 on the next. If one cannot be joined, nothing is created.
func TestEndpointOnSeveralNetworks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "a", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "b", "--subnet", "10.11.0.0/24")
	x := w.Name("x")
	out := w.MustCLI("endpoint", "create", x, "--network", "b", "--network", "name=a,ip=10.10.0.9")
	if want := x + " eth0 10.11.0.2 on b, netns /run/netns/" + x + "\n" + x + " eth1 10.10.0.9 on a\n"; out != want {
		t.Fatalf("endpoint create printed %q, want %q", out, want)
	}
	ep := inspectEndpoint(t, w, x)
	if len(ep.Interfaces) != 2 || ep.Interfaces[0].Network != "b" || ep.Interfaces[1].Name != "eth1" {
		t.Fatalf("inspect: %+v", ep.Interfaces)
	}
	if route := w.MustExec(x, "ip", "route", "show", "default"); strings.TrimSpace(route) != "default via 10.11.0.1 dev eth0" {
		t.Fatalf("default route of %s:\n%s", x, route)
	}
	mustPing(t, w, x, "10.10.0.1")
	mustPing(t, w, x, "10.11.0.1")
	if !bpfEndpoint(t, w, "10.10.0.9", x) || !bpfEndpoint(t, w, "10.11.0.2", x) {
		t.Fatalf("bpf endpoints:\n%s", w.MustCLI("bpf", "endpoints"))
	}

	devices := linkNames(t, w, w.Node)
	y := w.Name("y")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--network", "a", "--network", "nope"}, 1, `Error response from daemon: network "nope" not found`},
		{[]string{"--network", "a", "--network", "b", "--network", "a"}, 1, `network "a" is specified multiple times`},
		{[]string{"--network", "a", "--network", "name=b,ip=10.11.0.2"}, 1, "10.11.0.2 is already in use"},
		{[]string{"--network", "name=a,ip=10.10.0.7", "--ip", "10.10.0.8"}, 125, "conflicting options: cannot specify both --ip"},
	} {
		r := cliRun(t, w, "", append([]string{"endpoint", "create", y}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Fatalf("create %v: %+v, want exit %d and %q", tc.args, r, tc.code, tc.want)
		}
		if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 1 {
			t.Fatalf("after a refused create %v: %+v", tc.args, eps)
		}
		if _, err := os.Stat("/run/netns/" + y); err == nil {
			t.Fatalf("a refused create %v left /run/netns/%s", tc.args, y)
		}
		if got := linkNames(t, w, w.Node); got != devices {
			t.Fatalf("a refused create %v left devices: %s, was %s", tc.args, got, devices)
		}
	}
}

// Issue 11, found 9: status prints one daemon: line, and the socket
// programs on the world's cgroup with their attach types and program ids.
func TestStatusShowsSocketPrograms(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := status(t, w)
	want := map[string]string{"cgroup_connect4": "CGroupInet4Connect", "cgroup_sendmsg4": "CGroupUDP4Sendmsg",
		"cgroup_recvmsg4": "CGroupUDP4Recvmsg", "cgroup_getpeername4": "CgroupInet4GetPeername"}
	if len(st.SocketPrograms) != len(want) {
		t.Fatalf("status shows socket programs %+v", st.SocketPrograms)
	}
	for _, p := range st.SocketPrograms {
		if want[p.Hook] != p.AttachType || p.Cgroup != w.Cgroup || p.ID == 0 || !strings.HasPrefix(p.Name, "enet_sock_") {
			t.Fatalf("socket program %+v; want attach type %s on %s", p, want[p.Hook], w.Cgroup)
		}
		// The id is the program the pinned link runs.
		if info := w.MustExec(w.Node, "bpftool", "link", "show", "pinned", w.BPFFS+"/links/"+p.Hook); !strings.Contains(info,
			fmt.Sprintf("prog %d", p.ID)) {
			t.Fatalf("bpftool link show %s:\n%s\nstatus says program %d", p.Hook, info, p.ID)
		}
	}
	text := w.MustCLI("status")
	if n := len(regexp.MustCompile(`(?m)^daemon:`).FindAllString(text, -1)); n != 1 {
		t.Fatalf("status prints %d daemon: lines:\n%s", n, text)
	}
	row := regexp.MustCompile(`(?m)^enet_sock_conn4\s+\d+\s+cgroup_connect4\s+CGroupInet4Connect\s+` + regexp.QuoteMeta(w.Cgroup) + `$`)
	if !strings.Contains(text, "SOCKET-PROGRAM") || !row.MatchString(text) {
		t.Fatalf("status does not list the socket programs:\n%s", text)
	}
}

// Issue 11, found 9: an internal network does not show masquerade, in
// ls, inspect or enet_networks (TestInternalNetworkHasNoWayOut holds its
// datapath).
func TestInternalNetworkShowsNoMasquerade(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "inner", "--internal", "--subnet", "10.27.0.0/24")
	if n := inspectNetwork(t, w, "inner"); n.Masquerade || !n.Internal {
		t.Fatalf("inspect: %+v", n)
	}
	for _, bn := range cliJSON[[]api.BPFNetwork](t, w, "bpf", "networks", "--json") {
		if bn.Network == "inner" && (bn.Masquerade || !bn.Internal) {
			t.Fatalf("enet_networks: %+v", bn)
		}
	}
	if out := w.MustCLI("network", "ls", "--format", "{{.Name}} {{.Internal}} {{.Masquerade}}", "-f", "name=inner"); out != "inner true false\n" {
		t.Fatalf("network ls: %q", out)
	}
}
