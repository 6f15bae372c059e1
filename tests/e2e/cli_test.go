package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// run is one CLI command in the node with stdin, its stdout and stderr
// apart, and its exit code.
type run struct {
	stdout, stderr string
	code           int
}

func cliRun(t *testing.T, w *world.World, stdin string, args ...string) run {
	t.Helper()
	cmd := w.Cmd(w.Node, append([]string{w.Bin, "--socket", w.Socket}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("ebpfnet %s: %v", strings.Join(args, " "), err)
	}
	return run{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
}

// must fails the test unless the command exited with code and printed
// stdout and stderr exactly.
func (r run) must(t *testing.T, what string, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || r.stdout != stdout || r.stderr != stderr {
		t.Fatalf("%s: exit %d, stdout %q, stderr %q;\nwant exit %d, stdout %q, stderr %q",
			what, r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
}

// Issue 11, found 6 and must-hold 4: the messages and exit codes of
// Docker's CLI (docs/cli.md): the daemon's refusals after "Error response
// from daemon:" with 1, a wrong command line with its usage and 1, a flag
// the command does not take with 125; typos get a suggestion.
func TestCLIErrorsAsDocker(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cliRun(t, w, "", "network", "rm", "nope").must(t, "rm of no such network", 1, "",
		"Error response from daemon: network \"nope\" not found\n")
	cliRun(t, w, "", "network", "create", "bridge").must(t, "a name taken", 1, "",
		"Error response from daemon: network \"bridge\" already exists\n")
	cliRun(t, w, "", "netwrok", "ls").must(t, "a typo", 1, "", "ebpfnet: unknown command: ebpfnet netwrok\n"+
		"Did you mean \"network\"?\n\nUsage:  ebpfnet COMMAND\n\nRun 'ebpfnet --help' for more information\n")
	cliRun(t, w, "", "network", "lss").must(t, "a typo of a subcommand", 1, "", "ebpfnet: unknown command: ebpfnet network lss\n"+
		"Did you mean \"ls\"?\n\nUsage:  ebpfnet network COMMAND\n\nRun 'ebpfnet network --help' for more information\n")
	cliRun(t, w, "", "network", "create", "x", "--colour", "red").must(t, "an unknown flag", 125, "",
		"ebpfnet: flag provided but not defined: -colour\n\nUsage:  ebpfnet network create [OPTIONS] NAME\n\n"+
			"Run 'ebpfnet network create --help' for more information\n")
	cliRun(t, w, "", "network", "create").must(t, "no name", 1, "",
		"ebpfnet: 'ebpfnet network create' requires 1 argument\n\nUsage:  ebpfnet network create [OPTIONS] NAME\n\n"+
			"Run 'ebpfnet network create --help' for more information\n")

	x := w.Name("x")
	r := cliRun(t, w, "", "endpoint", "create", "-h", x)
	if r.code != 0 || !strings.Contains(r.stdout, "ebpfnet endpoint create - create an endpoint") || r.stderr != "" {
		t.Fatalf("endpoint create -h NAME: %+v", r)
	}
	if _, err := os.Stat("/run/netns/" + x); err == nil {
		t.Fatalf("endpoint create -h %s created it", x)
	}
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 0 {
		t.Fatalf("endpoint create -h made %+v", eps)
	}
}

// Issue 11, found 4 and 9: port EP PRIVATE_PORT[/PROTO] prints the host
// addresses as docker port does, or fails; an endpoint with nothing
// published prints nothing, as docker port does, while bpf ports, a
// table, keeps its header, as docker ps does.
func TestPortOfAPrivatePort(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "api", "idle")
	api1, idle := w.Name("api"), w.Name("idle")
	cliRun(t, w, "", "bpf", "ports").must(t, "bpf ports with nothing", 0, "PROTO  HOST-IP  HOST-PORT  TARGET  ENDPOINT\n", "")
	w.MustCLI("publish", api1, "8080:80", "127.0.0.1:8081:80", "5353:53/udp")

	cliRun(t, w, "", "port", api1, "80").must(t, "port 80", 0, "0.0.0.0:8080\n127.0.0.1:8081\n", "")
	cliRun(t, w, "", "port", api1, "80/tcp").must(t, "port 80/tcp", 0, "0.0.0.0:8080\n127.0.0.1:8081\n", "")
	cliRun(t, w, "", "port", api1, "53/udp").must(t, "port 53/udp", 0, "0.0.0.0:5353\n", "")
	cliRun(t, w, "", "port", api1, "53").must(t, "port 53 (tcp)", 1, "", "ebpfnet: no public port '53' published for "+api1+"\n")
	cliRun(t, w, "", "port", api1).must(t, "port EP", 0,
		"53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:8080\n80/tcp -> 127.0.0.1:8081\n", "")
	if ps := cliJSON[[]api.Port](t, w, "port", api1, "53/udp", "--json"); len(ps) != 1 || ps[0].HostPort != 5353 {
		t.Fatalf("port 53/udp --json: %+v", ps)
	}
	cliRun(t, w, "", "port", idle).must(t, "port of an endpoint with nothing published", 0, "", "")
	if ps := cliJSON[[]api.Port](t, w, "port", idle, "--json"); ps == nil || len(ps) != 0 {
		t.Fatalf("port --json of nothing: %+v", ps)
	}
}

// Issue 11, found 5: inspect takes --json and several names, and prints
// one JSON array, the names found even when another is not.
func TestInspectSeveral(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a", "b")
	a, b := w.Name("a"), w.Name("b")
	nets := cliJSON[[]api.Network](t, w, "network", "inspect", "web", "bridge", "--json")
	if len(nets) != 2 || nets[0].Name != "web" || nets[1].Name != "bridge" {
		t.Fatalf("network inspect web bridge: %+v", nets)
	}
	eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "inspect", "--json", b, a)
	if len(eps) != 2 || eps[0].Name != b || eps[1].Name != a {
		t.Fatalf("endpoint inspect b a: %+v", eps)
	}
	r := cliRun(t, w, "", "network", "inspect", "web", "nope")
	if r.code != 1 || r.stderr != "Error response from daemon: network \"nope\" not found\n" || !strings.HasPrefix(r.stdout, "[\n") {
		t.Fatalf("network inspect web nope: %+v", r)
	}
	cliRun(t, w, "", "endpoint", "inspect", "nope").must(t, "inspect of nothing found", 1, "[]\n",
		"Error response from daemon: endpoint \"nope\" not found\n")
	cliRun(t, w, "", "network", "inspect", "-f", "{{.Name}} {{.Subnet}}", "web", "bridge").
		must(t, "inspect --format", 0, "web 10.10.0.0/24\nbridge "+nets[1].Subnet+"\n", "")
}

// Issue 11, found 8: publishing a host port twice fails with Docker's
// message, naming the address and port as the user gave them and the
// endpoint that holds them, not ebpfnet's store key.
func TestDuplicatePublicationError(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "c1", "c2")
	c1, c2 := w.Name("c1"), w.Name("c2")
	w.MustCLI("publish", c1, "8081:80")
	want := "Error response from daemon: Bind for 0.0.0.0:8081 failed: port is already allocated (endpoint \"" + c1 +
		"\" publishes 8081/tcp)\n"
	cliRun(t, w, "", "publish", c1, "8081:80").must(t, "the same mapping again", 1, "", want)
	cliRun(t, w, "", "publish", c2, "8081:81").must(t, "the port for another endpoint", 1, "", want)
	cliRun(t, w, "", "endpoint", "create", w.Name("c3"), "--network", "web", "-p", "127.0.0.1:8081:80").
		must(t, "the port on one address", 1, "", "Error response from daemon: Bind for 127.0.0.1:8081 failed: "+
			"port is already allocated (endpoint \""+c1+"\" publishes 8081/tcp)\n")
}

// Issue 11, found 9: endpoint ls and inspect show an endpoint's
// publications, in JSON and in the table's PORTS column as docker ps.
func TestEndpointShowsPorts(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "idle")
	a := w.Name("a")
	w.MustCLI("endpoint", "create", a, "--network", "web", "-p", "8080:80")
	w.MustCLI("publish", a, "127.0.0.1:5353:53/udp")
	want := []api.Port{
		{Endpoint: a, Proto: "udp", HostIP: "127.0.0.1", HostPort: 5353, ContainerPort: 53, Target: "10.10.0.3:53"},
		{Endpoint: a, Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Target: "10.10.0.3:80"},
	}
	if got := inspectEndpoint(t, w, a).Ports; !equalJSON(got, want) {
		t.Fatalf("inspect: ports %+v, want %+v", got, want)
	}
	for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
		if ep.Name == a && !equalJSON(ep.Ports, want) || ep.Name != a && (ep.Ports == nil || len(ep.Ports) > 0) {
			t.Fatalf("ls --json: %s has ports %+v", ep.Name, ep.Ports)
		}
	}
	ls := w.MustCLI("endpoint", "ls")
	if !strings.Contains(ls, " PORTS\n") || !strings.Contains(ls, " 127.0.0.1:5353->53/udp,0.0.0.0:8080->80/tcp\n") {
		t.Fatalf("endpoint ls:\n%s", ls)
	}
}
