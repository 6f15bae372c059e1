package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestDaemonStopKeepsForwarding(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	mustPing(t, w, a, "10.10.0.3")
	before := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json")

	w.StopDaemon()
	mustFailCLI(t, w, "no ebpfnet daemon", "status")
	if out, _ := exec.Command("pgrep", "-f", w.Socket).Output(); len(out) > 0 {
		t.Fatalf("a daemon process is left after daemon stop: %s", out)
	}
	mustPing(t, w, a, "10.10.0.3")
	srv := listen(t, w, b, "8080")
	if err := send(w, a, "10.10.0.3", "8080", "while the daemon is away\n"); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(t); got != "while the daemon is away\n" {
		t.Fatalf("b received %q with the daemon stopped", got)
	}
	for _, ep := range before {
		host := ep.Interfaces[0].HostName
		if filters := w.MustExec(w.Node, "tc", "filter", "show", "dev", host, "ingress"); !strings.Contains(filters, "enet_from_ep") {
			t.Fatalf("the tc filter of %s is gone with the daemon:\n%s", ep.Name, filters)
		}
	}
	if _, ok := tcxLink(t, w, world.UplinkDev); !ok {
		t.Fatal("the uplink's tcx link is gone with the daemon")
	}

	w.StartDaemon()
	after := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json")
	if summary(before) != summary(after) {
		t.Fatalf("endpoints changed across a restart:\nbefore %s\nafter  %s", summary(before), summary(after))
	}
	grows(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })
}

// summary is what must survive a restart: names, addresses, MACs and the
// very same host devices.
func summary(eps []api.Endpoint) string {
	var b strings.Builder
	for _, e := range eps {
		fmt.Fprintf(&b, "%s %s %s", e.Name, e.Netns, e.State)
		for _, i := range e.Interfaces {
			fmt.Fprintf(&b, " %s/%s/%s/%s/%s#%d", i.Network, i.Name, i.IP, i.MAC, i.HostName, i.HostIfindex)
		}
		b.WriteString("; ")
	}
	return b.String()
}

func TestSecondDaemonRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	pid := status(t, w).PID
	start := w.StartArgs()

	// The same state dir behind another socket: the store's lock refuses.
	other := filepath.Join(w.Dir, "other.sock")
	out, err := w.Exec(w.Node, append([]string{w.Bin, "--socket", other}, start...)...)
	if err == nil || !strings.Contains(out, "another ebpfnet daemon") {
		t.Fatalf("a second daemon on the state dir: err %v, want one naming another ebpfnet daemon:\n%s", err, out)
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatalf("the refused daemon left its socket %s", other)
	}
	// The same socket: the running daemon answers there.
	mustFailCLI(t, w, "another ebpfnet daemon", start...)

	if st := status(t, w); st.PID != pid {
		t.Fatalf("the first daemon (pid %d) was replaced by pid %d", pid, st.PID)
	}
	w.MustCLI("network", "create", "still-works", "--subnet", "10.10.0.0/24")
}

func TestSocketIsRootOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	fi, err := os.Stat(w.Socket)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 || st.Uid != 0 {
		t.Fatalf("socket %s: mode %v, uid %d; want a socket, 0600, root", w.Socket, fi.Mode(), st.Uid)
	}
}

func TestDefaultNetwork(t *testing.T) {
	cases := []struct {
		name   string
		setup  [][]string // commands in the node before the daemon starts
		daemon []string
		subnet string
		mtu    int
		gw     string
		first  string // addresses of the first endpoints, in order
		second string
	}{
		{name: "docker0-like", subnet: "172.17.0.0/16", mtu: 1500, gw: "172.17.0.1", first: "172.17.0.2", second: "172.17.0.3"},
		{
			name:   "the uplink's MTU",
			setup:  [][]string{{"ip", "link", "set", "up0", "mtu", "1400"}},
			subnet: "172.17.0.0/16", mtu: 1400, gw: "172.17.0.1", first: "172.17.0.2", second: "172.17.0.3",
		},
		{
			name:   "skips a routed subnet",
			setup:  [][]string{{"ip", "route", "add", "172.17.0.0/16", "via", world.ExtIP.String()}},
			subnet: "172.18.0.0/16", mtu: 1500, gw: "172.18.0.1", first: "172.18.0.2", second: "172.18.0.3",
		},
		{
			name: "--default-subnet", daemon: []string{"--default-subnet", "10.99.0.0/24"},
			subnet: "10.99.0.0/24", mtu: 1500, gw: "10.99.0.1", first: "10.99.0.2", second: "10.99.0.3",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := world.New(t, bin)
			for _, c := range tc.setup {
				w.MustExec(w.Node, c...)
			}
			w.StartDaemon(tc.daemon...)
			n := inspectNetwork(t, w, "bridge")
			if !n.Default || n.Bridge != "enet0" || n.Subnet != tc.subnet || n.Gateway != tc.gw || n.MTU != tc.mtu {
				t.Fatalf("default network %+v; want default, bridge enet0, subnet %s, gateway %s, MTU %d", n, tc.subnet, tc.gw, tc.mtu)
			}
			bits := tc.subnet[strings.Index(tc.subnet, "/"):]
			if addr := w.MustExec(w.Node, "ip", "-4", "-o", "addr", "show", "dev", "enet0"); !strings.Contains(addr, " "+tc.gw+bits+" ") {
				t.Fatalf("enet0 does not hold the gateway %s%s:\n%s", tc.gw, bits, addr)
			}
			first, second := w.Name("first"), w.Name("second")
			w.MustCLI("endpoint", "create", first)
			w.MustCLI("endpoint", "create", second)
			for ep, want := range map[string]string{first: tc.first, second: tc.second} {
				if got := inspectEndpoint(t, w, ep).Interfaces[0].IP; got != want {
					t.Fatalf("endpoint %s got %s, want %s", ep, got, want)
				}
			}
			if mtu := links(t, w, first)["eth0"].MTU; mtu != tc.mtu {
				t.Fatalf("eth0 of %s has MTU %d, want %d", first, mtu, tc.mtu)
			}
			mustPing(t, w, first, tc.second)
			if route := w.MustExec(first, "ip", "route", "show", "default"); !strings.Contains(route, "via "+tc.gw+" dev eth0") {
				t.Fatalf("default route of %s is not via %s:\n%s", first, tc.gw, route)
			}
		})
	}
}

func TestDefaultSubnetCannotChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "--default-subnet", "10.99.0.0/24")
	w.StopDaemon()
	mustFailCLI(t, w, "cannot change", append(w.StartArgs(), "--default-subnet", "10.98.0.0/24")...)
	w.StartDaemon("--default-subnet", "10.99.0.0/24")
	w.StopDaemon()
	w.StartDaemon() // no flag: keep what there is
	if n := inspectNetwork(t, w, "bridge"); n.Subnet != "10.99.0.0/24" {
		t.Fatalf("default network moved to %s", n.Subnet)
	}
}

func TestNothingInTheMachinesNetns(t *testing.T) {
	t.Parallel()
	rootBefore := links(t, nil, "")
	w := newWorld(t)
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24", "--bridge", w.ID+"br")
	w.MustCLI("network", "create", "other", "--subnet", "10.11.0.0/24")
	w.MustCLI("network", "connect", "other", a)
	mustPing(t, w, a, "10.10.0.3")
	ours := map[string]bool{"enet0": true, w.ID + "br": true, "up0": true}
	for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
		for _, i := range ep.Interfaces {
			ours[i.HostName] = true
		}
	}
	for name, l := range links(t, nil, "") {
		if _, old := rootBefore[name]; old {
			continue
		}
		if ours[name] || strings.HasPrefix(l.Alias, "ebpfnet:") {
			t.Errorf("device %s (alias %q) appeared in the machine's own netns", name, l.Alias)
		}
	}
}

func TestDaemonStartFlags(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	bad := []struct {
		name string
		flag []string
		want string
	}{
		{"unknown uplink", []string{"--uplink", "nope"}, "uplink nope"},
		{"bad log level", []string{"--log-level", "loud"}, `unrecognized level: "loud"`},
		{"bad attach mode", []string{"--attach", "xdp"}, "want auto, tcx or tc"},
		{"default subnet with host bits", []string{"--default-subnet", "10.0.0.1/8"}, "did you mean 10.0.0.0/8"},
		{"default subnet not a CIDR", []string{"--default-subnet", "ten"}, "not an IPv4 CIDR"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			mustFailCLI(t, w, tc.want, append(w.StartArgs(), tc.flag...)...)
			if _, err := os.Stat(w.BPFFS); err == nil {
				t.Fatalf("a refused start left %s", w.BPFFS)
			}
			if got := linkNames(t, w, w.Node); got != "lo up0" {
				t.Fatalf("a refused start left devices: %s", got)
			}
		})
	}

	// --socket after the command, as the usage line puts it, beats an
	// EBPFNET_SOCKET that points elsewhere.
	start := w.Cmd(w.Node, append(append([]string{w.Bin}, w.StartArgs()...),
		"--uplink", "up0", "--log-level", "debug", "--socket", w.Socket)...)
	start.Env = append(start.Env, "EBPFNET_SOCKET="+filepath.Join(w.Dir, "elsewhere.sock"))
	if out, err := start.CombinedOutput(); err != nil {
		t.Fatalf("daemon start --socket: %v\n%s", err, out)
	}
	// The client finds the daemon through EBPFNET_SOCKET too.
	out, err := w.Exec(w.Node, w.Bin, "status")
	if err != nil || !strings.Contains(out, "uplink:     up0") {
		t.Fatalf("status through EBPFNET_SOCKET: %v\n%s", err, out)
	}
}

// TestDaemonSignals: SIGTERM is daemon stop; after SIGKILL the datapath
// forwards on and the next start takes over.
func TestDaemonSignals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		pid := status(t, w).PID
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		if !world.Wait(10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
			t.Fatalf("the daemon (pid %d) survived %v", pid, sig)
		}
		mustFailCLI(t, w, "no ebpfnet daemon", "status")
		mustPing(t, w, a, "10.10.0.3")
		w.StartDaemon()
		grows(t, w, a, "forward-peer", func() { mustPing(t, w, a, "10.10.0.3") })
	}
}

// TestReconcileOnStart: what the store holds and the kernel lost while the
// daemon was away comes back on start.
func TestReconcileOnStart(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	bHost := inspectEndpoint(t, w, b).Interfaces[0].HostName
	w.StopDaemon()
	w.MustExec(w.Node, "ip", "link", "del", bHost)
	w.MustExec(w.Node, "ip", "netns", "del", a)
	w.StartDaemon()
	mustPing(t, w, a, "10.10.0.3")
	mustPing(t, w, b, "10.10.0.2")
	if n := len(cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json")); n != 2 {
		t.Fatalf("enet_endpoints holds %d entries after the restore, want 2", n)
	}
}

// TestBPFFSMounted: a --bpffs dir on no bpf filesystem gets one mounted,
// and system reset unmounts it.
func TestBPFFSMounted(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	dir := filepath.Join(w.Dir, "bpf")
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) }) // only if the test failed half way
	w.MustCLI("daemon", "start", "--cgroup", w.Cgroup, "--state-dir", filepath.Join(w.Dir, "state"), "--bpffs", dir)
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil || fs.Type != bpfFSMagic {
		t.Fatalf("%s is not a bpf filesystem: %v, type %#x", dir, err, fs.Type)
	}
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	mustPing(t, w, a, "10.10.0.3")
	w.MustExec(w.Node, "bpftool", "map", "show", "pinned", filepath.Join(dir, "enet_endpoints"))
	w.MustCLI("system", "reset")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("system reset left %s (%v)", dir, err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); strings.Contains(string(mounts), dir) {
		t.Fatalf("system reset left %s mounted", dir)
	}
}

const bpfFSMagic = 0xcafe4a11
