package e2e

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// refusedStart runs `daemon start` with the API socket at sock and fails
// unless it fails naming want and leaves no socket behind.
func refusedStart(t *testing.T, w *world.World, sock, want string, wrap ...string) {
	t.Helper()
	argv := append(append(wrap, w.Bin, "--socket", sock), w.StartArgs()...)
	cmd := w.Cmd(w.Node, argv...)
	if len(wrap) > 0 {
		cmd = probeCmd(w, w.Node, false, argv...)
	}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("daemon start with socket %s: %v, want an error with %q:\n%s", sock, err, want, out)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused daemon left %s: %v", sock, err)
	}
}

// Issue 6, point 8: the daemon refuses to start when its API socket could
// not be root-only: in a directory another user owns or can write to (they
// could put a socket of theirs in its place), or where the socket cannot
// be given mode 0600. The directory is checked before anything is loaded.
func TestSocketMustBeRootOnly(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	dir := func(path string, mode os.FileMode, uid int) string {
		if err := os.MkdirAll(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, uid); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct {
		name, sock, want string
	}{
		{"directory of another user", filepath.Join(dir(filepath.Join(w.Dir, "nobody"), 0o755, 65534), "s.sock"),
			"the API socket would not be root-only: " + filepath.Join(w.Dir, "nobody") + " is owned by uid 65534"},
		{"directory anyone can write to", filepath.Join(dir(filepath.Join(w.Dir, "open"), 0o777, 0), "s.sock"),
			"is writable by group or others (mode 777)"},
		{"parent a group can write to", filepath.Join(dir(filepath.Join(dir(filepath.Join(w.Dir, "grp"), 0o770, 0), "in"), 0o700, 0), "s.sock"),
			filepath.Join(w.Dir, "grp") + " is writable by group or others (mode 770)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refusedStart(t, w, tc.sock, tc.want)
			if _, err := os.Stat(w.BPFFS); err == nil {
				t.Fatalf("a refused start left %s", w.BPFFS)
			}
			if got := linkNames(t, w, w.Node); got != "lo up0" {
				t.Fatalf("a refused start left devices: %s", got)
			}
		})
	}
	t.Run("chmod refused", func(t *testing.T) {
		refusedStart(t, w, filepath.Join(w.Dir, "s.sock"), "make the API socket root-only: chmod", "nochmod")
	})
	// A sticky directory anyone can write to, as /tmp: only root can
	// remove or rename root's socket there.
	sticky := filepath.Join(dir(filepath.Join(w.Dir, "sticky"), 0o777|os.ModeSticky, 0), "s.sock")
	w.MustExec(w.Node, append([]string{w.Bin, "--socket", sticky}, w.StartArgs()...)...)
	w.MustExec(w.Node, w.Bin, "--socket", sticky, "daemon", "stop")
}

// daemonSockets lists the sockets of process pid that ss shows in a
// namespace, for the ss options given (-t, -u, -x, -l, -a ...).
func daemonSockets(t *testing.T, w *world.World, pid int, opts ...string) []string {
	t.Helper()
	out := w.MustExec(w.Node, append([]string{"ss", "-H", "-n", "-p"}, opts...)...)
	var mine []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(l, "pid="+strconv.Itoa(pid)+",") {
			mine = append(mine, strings.Join(strings.Fields(l), " "))
		}
	}
	return mine
}

// Issue 6, point 8: the daemon listens on its unix socket and on each
// network's gateway for names (issue 13: UDP and TCP on the resolver
// port, answering that network's endpoints only), and nothing else: no
// other TCP, UDP or raw socket at all until a port is published; then it
// holds each published port with a bound socket (so no process of the
// node takes it), a TCP one never listening. Port 53 is the user's to
// publish: the resolvers are not there.
func TestNoNetworkListener(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "srv")
	pid := status(t, w).PID
	got, resolvers := withoutResolvers(t, w, daemonSockets(t, w, pid, "-a", "-t", "-u", "-w"))
	if len(got) != 0 {
		t.Fatalf("the daemon has network sockets without publications:\n%s", strings.Join(got, "\n"))
	}
	if nets := len(cliJSON[[]api.Network](t, w, "network", "ls", "--json")); resolvers != 2*nets {
		t.Fatalf("%d resolver sockets for %d networks, want a UDP and a TCP one each", resolvers, nets)
	}
	unix := daemonSockets(t, w, pid, "-l", "-x")
	if len(unix) != 1 || !strings.Contains(unix[0], w.Socket) {
		t.Fatalf("the daemon listens on unix sockets %q, want only %s", unix, w.Socket)
	}
	w.MustCLI("publish", w.Name("srv"), "8080:80", "5353:53/udp", "53:53/udp", "53:53")
	if got, _ := withoutResolvers(t, w, daemonSockets(t, w, pid, "-l", "-t", "-w")); len(got) != 0 {
		t.Fatalf("the daemon listens with TCP or raw sockets:\n%s", strings.Join(got, "\n"))
	}
	udp, _ := withoutResolvers(t, w, daemonSockets(t, w, pid, "-a", "-u"))
	if len(udp) != 2 || !strings.Contains(strings.Join(udp, " "), "0.0.0.0:5353") || !strings.Contains(strings.Join(udp, " "), "0.0.0.0:53 ") {
		t.Fatalf("the daemon's UDP sockets are %q, want the ones holding 5353 and 53", udp)
	}
}

// withoutResolvers leaves out of ss lines the networks' resolvers, each
// on its gateway (as `dns stats` lists them), and counts them.
func withoutResolvers(t *testing.T, w *world.World, lines []string) (rest []string, resolvers int) {
	t.Helper()
	gateways := map[string]bool{}
	for n, at := range cliJSON[api.DNSStatus](t, w, "dns", "stats", "--json").Listening {
		if !strings.HasSuffix(at, ":10053") || !strings.HasPrefix(at, inspectNetwork(t, w, n).Gateway+":") {
			t.Fatalf("network %s's resolver is on %s, want its gateway, port 10053", n, at)
		}
		gateways[at] = true
	}
	for _, l := range lines {
		if slices.ContainsFunc(strings.Fields(l), func(f string) bool { return gateways[f] }) {
			resolvers++
			continue
		}
		rest = append(rest, l)
	}
	return rest, resolvers
}

// Issue 6, point 8, end to end: b crafts datagrams shaped as replies of
// a's masqueraded flow. The real peer's reply reaches a; b's forgeries do
// not: with the peer's or a's address they are dropped and counted as
// spoofed, and from its own address to a's masquerade port the datagram
// is the node's, not a's.
func TestForgedRepliesDropped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	newEndpoint(t, w, a, "web")
	newEndpoint(t, w, b, "web")
	srv := startServer(t, w.Ext, extServer)
	c, err := dialUDP(a, fromPort(5000), extServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if seen, err := ask(c); err != nil || seen != netip.AddrPortFrom(world.NodeIP, 5000) {
		t.Fatalf("a's flow seen from %s: %v", seen, err)
	}
	masqPort := netip.AddrPortFrom(world.NodeIP, 5000)
	// The peer's own datagram to the masquerade port is a's.
	if _, err := srv.udp.WriteTo([]byte("peer"), net.UDPAddrFromAddrPort(masqPort)); err != nil {
		t.Fatal(err)
	}
	if got := readUDP(c); got != "peer" {
		t.Fatalf("a got %q of the peer's datagram", got)
	}
	gwMAC := ""
	for _, n := range cliJSON[[]api.BPFNetwork](t, w, "bpf", "networks", "--json") {
		if n.Network == "web" {
			gwMAC = n.GatewayMAC
		}
	}
	cases := []struct {
		name, src, dst, counter string
	}{
		{"from the peer's address to a's masquerade port", extServer.String(), masqPort.String(), "drop-spoofed-ip"},
		{"from a's address to the peer, for its answer", "10.10.0.2:5000", extServer.String(), "drop-spoofed-ip"},
		{"from its own address to a's masquerade port", "10.10.0.3:7000", masqPort.String(), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			send := func() { mustProbe(t, w, b, "raw", "eth0", gwMAC, tc.src, tc.dst) }
			if tc.counter != "" {
				grows(t, w, b, tc.counter, send)
			} else {
				send()
			}
			if got := readUDP(c); got != "" {
				t.Fatalf("a got %q after b's forgery", got)
			}
		})
	}
}

// readUDP is the next datagram c gets within a second, or "".
func readUDP(c *net.UDPConn) string {
	buf := make([]byte, 256)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}
