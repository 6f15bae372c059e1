package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// cliJSON runs a CLI command that prints JSON and decodes what it printed.
func cliJSON[T any](t *testing.T, w *world.World, args ...string) T {
	t.Helper()
	var v T
	out := w.MustCLI(args...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("ebpfnet %s: decode JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// inspectNetwork is `network inspect NAME`: as Docker's, an array.
func inspectNetwork(t *testing.T, w *world.World, name string) api.Network {
	t.Helper()
	return only(t, cliJSON[[]api.Network](t, w, "network", "inspect", name))
}

// inspectEndpoint is `endpoint inspect NAME`: as Docker's, an array.
func inspectEndpoint(t *testing.T, w *world.World, name string) api.Endpoint {
	t.Helper()
	return only(t, cliJSON[[]api.Endpoint](t, w, "endpoint", "inspect", name))
}

// only is the one element of what inspect printed for one name.
func only[T any](t *testing.T, all []T) T {
	t.Helper()
	if len(all) != 1 {
		t.Fatalf("inspect of one name printed %d", len(all))
	}
	return all[0]
}

func status(t *testing.T, w *world.World) api.Status {
	t.Helper()
	return cliJSON[api.Status](t, w, "status", "--json")
}

// counted is how many packets `ebpfnet bpf stats` counts under a reason on
// an endpoint's interfaces, or on the named interface.
func counted(t *testing.T, w *world.World, where, reason string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range cliJSON[[]api.BPFCounter](t, w, "bpf", "stats", "--json") {
		if (c.Endpoint == where || c.Interface == where) && c.Reason == reason {
			n += c.Packets
		}
	}
	return n
}

// grows runs fn and fails unless it made the counter for reason on an
// endpoint grow.
func grows(t *testing.T, w *world.World, endpoint, reason string, fn func()) {
	t.Helper()
	before := counted(t, w, endpoint, reason)
	fn()
	if after := counted(t, w, endpoint, reason); after <= before {
		t.Fatalf("%s of %s did not grow: %d before, %d after\n%s",
			reason, endpoint, before, after, w.MustCLI("bpf", "stats"))
	}
}

// ping sends two echo requests from a namespace; one reply is success.
func ping(w *world.World, ns, dst string, extra ...string) error {
	args := append([]string{"ping", "-n", "-c", "2", "-i", "0.2", "-W", "1"}, extra...)
	_, err := w.Exec(ns, append(args, dst)...)
	return err
}

func mustPing(t *testing.T, w *world.World, ns, dst string, extra ...string) {
	t.Helper()
	if err := ping(w, ns, dst, extra...); err != nil {
		t.Fatalf("ping from %s to %s failed: %v", ns, dst, err)
	}
}

func mustNotPing(t *testing.T, w *world.World, ns, dst string, extra ...string) {
	t.Helper()
	if err := ping(w, ns, dst, extra...); err == nil {
		t.Fatalf("ping from %s to %s got a reply; it must not", ns, dst)
	}
}

// mustFailCLI runs a command that must fail with an error naming want.
func mustFailCLI(t *testing.T, w *world.World, want string, args ...string) {
	t.Helper()
	out, err := w.CLI(args...)
	if err == nil {
		t.Fatalf("ebpfnet %s succeeded; want an error about %q:\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("ebpfnet %s: error does not mention %q:\n%s", strings.Join(args, " "), want, out)
	}
}

// link is a device of a namespace.
type link struct {
	Name   string
	Kind   string // veth, bridge, ...
	Index  int
	MTU    int
	Flags  string // up, broadcast, ...
	Alias  string
	Master string
	Addr   string
}

// links lists the devices of a world's namespace by name; ns "" (w may be
// nil) is the machine's own, only ever read. It asks netlink rather than
// `ip link`, which now and then fails with "Peer netns reference is
// invalid" for a veth while other namespaces come and go.
func links(t *testing.T, w *world.World, ns string) map[string]link {
	t.Helper()
	path := ""
	if ns != "" {
		path = "/run/netns/" + ns
	}
	h, err := netlinkAt(path)
	if err != nil {
		t.Fatalf("netlink in %q: %v", ns, err)
	}
	defer h.Close()
	ls, err := h.LinkList()
	if err != nil {
		t.Fatalf("list devices in %q: %v", ns, err)
	}
	byIndex := map[int]string{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	m := map[string]link{}
	for _, l := range ls {
		a := l.Attrs()
		m[a.Name] = link{Name: a.Name, Kind: l.Type(), Index: a.Index, MTU: a.MTU, Flags: a.Flags.String(),
			Alias: a.Alias, Master: byIndex[a.MasterIndex], Addr: a.HardwareAddr.String()}
	}
	return m
}

// linkNames is the sorted device names of a namespace.
func linkNames(t *testing.T, w *world.World, ns string) string {
	t.Helper()
	return strings.Join(slices.Sorted(maps.Keys(links(t, w, ns))), " ")
}

// listener is a TCP server in a namespace that keeps what it receives.
type listener struct {
	cmd  *exec.Cmd
	got  bytes.Buffer
	done chan error
}

// listen starts `nc -l port` in a namespace and waits until it listens.
func listen(t *testing.T, w *world.World, ns string, port string) *listener {
	t.Helper()
	l := &listener{cmd: w.Cmd(ns, "nc", "-l", port), done: make(chan error, 1)}
	l.cmd.Stdout = &l.got
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start nc in %s: %v", ns, err)
	}
	go func() { l.done <- l.cmd.Wait() }()
	t.Cleanup(func() { _ = l.cmd.Process.Kill() })
	ok := world.Wait(5*time.Second, func() bool {
		out, _ := w.Exec(ns, "ss", "-Hltn", "sport = :"+port)
		return strings.TrimSpace(out) != ""
	})
	if !ok {
		t.Fatalf("nc in %s does not listen on %s", ns, port)
	}
	return l
}

// received waits for the server to see its client close, and returns what
// arrived.
func (l *listener) received(t *testing.T) string {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("nc server did not finish")
	}
	return l.got.String()
}

// send connects from a namespace and writes msg, closing after it.
func send(w *world.World, ns, addr, port, msg string) error {
	cmd := w.Cmd(ns, "nc", "-N", "-w", "2", addr, port)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nc %s %s in %s: %w: %s", addr, port, ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// equalJSON compares two values as the API would send them.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
