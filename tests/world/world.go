// Package world builds the network namespaces tests, the demo and the
// benchmarks run in: a "node" namespace where the daemon runs, with its own
// state dir, bpffs dir and socket, and an "ext" namespace standing for the
// outside, joined to the node by a veth that is the node's uplink. Nothing
// here touches the machine's own network namespace, and Close removes
// everything and proves it.
package world

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// T is what a world needs of its user: *testing.T and *testing.B fit, and
// the benchmark harness has its own.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// Documentation addresses (RFC 5737) for the uplink.
var (
	NodeIP = netip.MustParseAddr("198.51.100.1")
	ExtIP  = netip.MustParseAddr("198.51.100.2")
)

const (
	UplinkDev = "up0"  // in the node
	ExtDev    = "ext0" // in ext
)

// World is one set of namespaces and the daemon's paths in it.
type World struct {
	t      T
	ID     string // prefix of every global name this world creates
	Node   string // netns names
	Ext    string
	Dir    string
	BPFFS  string
	Socket string
	Bin    string
	Cgroup string // the daemon's --cgroup: a child of the cgroup2 root

	cgroupFD *os.File
}

// New builds a world and registers its teardown with t.Cleanup. With bin
// "" it is a world without ebpfnet, as NewNetfilter's.
func New(t T, bin string) *World {
	t.Helper()
	id := "w" + randHex(5)
	dir, err := os.MkdirTemp("", "ebpfnet-"+id+"-")
	if err != nil {
		t.Fatalf("world: %v", err)
	}
	w := &World{
		t: t, ID: id, Node: id + "node", Ext: id + "ext", Dir: dir,
		BPFFS: "/sys/fs/bpf/ebpfnet-" + id, Socket: filepath.Join(dir, "ebpfnet.sock"), Bin: bin,
	}
	t.Cleanup(w.Close)
	if w.Cgroup, w.cgroupFD, err = newCgroup(id); err != nil {
		t.Fatalf("world: %v", err)
	}
	steps := [][]string{
		{"netns", "add", w.Node},
		{"netns", "add", w.Ext},
		{"link", "add", UplinkDev, "netns", w.Node, "type", "veth", "peer", "name", ExtDev, "netns", w.Ext},
		{"-n", w.Node, "addr", "add", NodeIP.String() + "/24", "dev", UplinkDev},
		{"-n", w.Ext, "addr", "add", ExtIP.String() + "/24", "dev", ExtDev},
		{"-n", w.Node, "link", "set", "lo", "up"},
		{"-n", w.Ext, "link", "set", "lo", "up"},
		{"-n", w.Node, "link", "set", UplinkDev, "up"},
		{"-n", w.Ext, "link", "set", ExtDev, "up"},
		{"-n", w.Node, "route", "add", "default", "via", ExtIP.String()},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			t.Fatalf("world: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return w
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// Name gives a global name (an endpoint's /run/netns entry) this world's
// prefix, so worlds running side by side never collide.
func (w *World) Name(s string) string { return w.ID + "-" + s }

// Cmd is a command run inside a network namespace of the world, in the
// machine's mount namespace (nsenter --net), so /run/netns and bpffs
// mounts are shared.
func (w *World) Cmd(netns string, argv ...string) *exec.Cmd {
	args := append([]string{"--net=/run/netns/" + netns, "--"}, argv...)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), "EBPFNET_SOCKET="+w.Socket)
	return cmd
}

// Exec runs a command in a namespace and returns its combined output.
func (w *World) Exec(netns string, argv ...string) (string, error) {
	out, err := w.Cmd(netns, argv...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), netns, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustExec is Exec that fails the test on error.
func (w *World) MustExec(netns string, argv ...string) string {
	w.t.Helper()
	out, err := w.Exec(netns, argv...)
	if err != nil {
		w.t.Fatalf("%v", err)
	}
	return out
}

// CLI runs ebpfnet in the node against this world's daemon.
func (w *World) CLI(args ...string) (string, error) {
	return w.Exec(w.Node, append([]string{w.Bin, "--socket", w.Socket}, args...)...)
}

// MustCLI is CLI that fails the test on error.
func (w *World) MustCLI(args ...string) string {
	w.t.Helper()
	out, err := w.CLI(args...)
	if err != nil {
		w.t.Fatalf("%v", err)
	}
	return out
}

// DaemonArgs are the flags that point a daemon at this world's paths.
func (w *World) DaemonArgs() []string {
	return []string{"--state-dir", filepath.Join(w.Dir, "state"), "--bpffs", w.BPFFS}
}

// StartArgs is `daemon start` with this world's paths and cgroup: the
// socket programs must never attach at the cgroup2 root, where every
// process of the machine would meet them.
func (w *World) StartArgs() []string {
	return append([]string{"daemon", "start", "--cgroup", w.Cgroup}, w.DaemonArgs()...)
}

// StartDaemon starts the daemon in the node with this world's paths and
// its socket programs on the world's cgroup.
func (w *World) StartDaemon(extra ...string) {
	w.t.Helper()
	w.MustCLI(append(w.StartArgs(), extra...)...)
}

// StopDaemon stops it; the datapath stays.
func (w *World) StopDaemon() {
	w.t.Helper()
	w.MustCLI("daemon", "stop")
}

// Close resets ebpfnet (if the world has it), removes the namespaces and
// the temp dir, then fails the test if anything of the world is left.
func (w *World) Close() {
	if w.Bin == "" { // a world without ebpfnet: the netfilter twin
		w.removeAll()
		return
	}
	if out, err := w.CLI(append([]string{"system", "reset"}, w.DaemonArgs()...)...); err != nil {
		w.t.Logf("world %s: system reset: %v\n%s", w.ID, err, out)
	}
	if log, err := os.ReadFile(filepath.Join(w.Dir, "state", "daemon.log")); err == nil && len(log) > 0 {
		w.t.Logf("daemon log of world %s:\n%s", w.ID, tail(log, 40))
	}
	w.removeAll()
}

// removeAll removes the namespaces, the temp dir and the cgroup, then
// fails the test if anything of the world is left.
func (w *World) removeAll() {
	for _, ns := range w.netns() {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	_ = os.RemoveAll(w.Dir)
	w.removeCgroup()
	if leaks := w.Leaks(); len(leaks) > 0 {
		w.t.Fatalf("world %s left behind: %s", w.ID, strings.Join(leaks, "; "))
	}
}

// netns lists the namespaces under /run/netns that carry the world's ID.
func (w *World) netns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), w.ID) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Leaks lists what of the world is still on the machine: namespaces,
// mounts under its dir (the daemon's defragmentation helper namespace is
// one), the pin dir, and a daemon process.
func (w *World) Leaks() []string {
	var leaks []string
	if ns := w.netns(); len(ns) > 0 {
		leaks = append(leaks, "netns "+strings.Join(ns, ","))
	}
	if m := MountsUnder(w.Dir); len(m) > 0 {
		leaks = append(leaks, "mounts "+strings.Join(m, ","))
	}
	if _, err := os.Stat(w.BPFFS); err == nil {
		leaks = append(leaks, "pins under "+w.BPFFS)
	}
	if m, _ := filepath.Glob(filepath.Join("/etc/netns", w.ID+"*")); len(m) > 0 {
		leaks = append(leaks, "resolv.conf dirs "+strings.Join(m, ","))
	}
	if _, err := os.Stat(w.Cgroup); w.Cgroup != "" && err == nil {
		leaks = append(leaks, "cgroup "+w.Cgroup)
	}
	// The daemon removes its socket last, but its process takes a moment
	// more to go after `system reset` has seen that.
	var pids []byte
	Wait(2*time.Second, func() bool {
		pids, _ = exec.Command("pgrep", "-f", w.Socket).Output()
		return len(bytes.TrimSpace(pids)) == 0
	})
	if len(bytes.TrimSpace(pids)) > 0 {
		leaks = append(leaks, "daemon pid "+strings.TrimSpace(string(pids)))
	}
	return leaks
}

// MountsUnder lists the mount points below dir.
func MountsUnder(dir string) []string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{"cannot read /proc/self/mountinfo: " + err.Error()}
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if fs := strings.Fields(line); len(fs) > 4 && strings.HasPrefix(fs[4], dir+"/") {
			out = append(out, fs[4])
		}
	}
	return out
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Wait polls cond every 20ms until it holds or timeout passes.
func Wait(timeout time.Duration, cond func() bool) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
