package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// pubWorld is a world with network web (10.10.0.0/24) and the named
// endpoints on it, in order: the first is 10.10.0.2.
func pubWorld(t *testing.T, endpoints ...string) *world.World {
	t.Helper()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	for _, e := range endpoints {
		w.MustCLI("endpoint", "create", w.Name(e), "--network", "web")
	}
	t.Cleanup(func() {
		noFirewallRules(t, w)
		if t.Failed() {
			for _, m := range []string{"ports", "ct", "nat", "stats"} {
				out, _ := w.CLI("bpf", m)
				t.Logf("ebpfnet bpf %s:\n%s", m, out)
			}
		}
	})
	return w
}

// srvWorld is a pubWorld whose first endpoint, srv, runs echo servers on
// TCP 80 and UDP 53 answering "srv PEER"; it returns srv's name and the
// UDP server.
func srvWorld(t *testing.T, others ...string) (*world.World, string, *echoServer) {
	t.Helper()
	w := pubWorld(t, append([]string{"srv"}, others...)...)
	srv := w.Name("srv")
	serve(t, w, srv, "tcp", ":80", "srv")
	return w, srv, serve(t, w, srv, "udp", ":53", "srv")
}

// probeCmd runs the test binary as a probe in a namespace; inCgroup puts
// it where the daemon's socket programs apply.
func probeCmd(w *world.World, netns string, inCgroup bool, args ...string) *exec.Cmd {
	self, _ := os.Executable()
	argv := append([]string{self}, args...)
	cmd := w.Cmd(netns, argv...)
	if inCgroup {
		cmd = w.CgroupCmd(netns, argv...)
	}
	cmd.Env = append(cmd.Env, probeEnv+"=1")
	return cmd
}

// echoServer is a running echo probe and the peers it has seen.
type echoServer struct {
	mu  sync.Mutex
	got []string
}

// serve starts an echo server in a namespace, answering "TAG PEER"; it is
// killed at the end of the test.
func serve(t *testing.T, w *world.World, netns, proto, addr, tag string) *echoServer {
	t.Helper()
	cmd := probeCmd(w, netns, false, "serve", proto, addr, tag)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s server in %s: %v", proto, netns, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := &echoServer{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				close(ready)
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, strings.TrimPrefix(line, "got "))
			s.mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s server on %s in %s did not start", proto, addr, netns)
	}
	return s
}

// settled is count once it held for 200ms (2s at most): the server prints
// what it got before it answers, but the line may reach the test after
// the answer reached the client.
func (s *echoServer) settled() int {
	n := s.count()
	for range 10 {
		time.Sleep(200 * time.Millisecond)
		m := s.count()
		if m == n {
			break
		}
		n = m
	}
	return n
}

// count is how many messages the server has had.
func (s *echoServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// dial sends one message from a namespace, from a local address if one
// is given, and returns the reply.
func dial(w *world.World, netns string, inCgroup bool, proto, addr string, local ...string) (probeReply, error) {
	cmd := probeCmd(w, netns, inCgroup, append([]string{"dial", proto, addr}, local...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return probeReply{}, fmt.Errorf("dial %s %s from %s: %w", proto, addr, netns, err)
	}
	var r probeReply
	return r, json.Unmarshal(out, &r)
}

// mustReach dials and checks the reply: the server's tag and the peer it
// saw (empty: not checked), and the peer the client's socket shows.
func mustReach(t *testing.T, w *world.World, netns string, inCgroup bool, proto, addr, wantReply, wantPeer string) {
	t.Helper()
	r, err := dial(w, netns, inCgroup, proto, addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Reply, wantReply) {
		t.Errorf("%s %s from %s: reply %q, want %q", proto, addr, netns, r.Reply, wantReply)
	}
	if r.Peer != wantPeer {
		t.Errorf("%s %s from %s: reply came from %s, want %s", proto, addr, netns, r.Peer, wantPeer)
	}
}

// mustNotReach dials and expects no answer.
func mustNotReach(t *testing.T, w *world.World, netns string, inCgroup bool, proto, addr string) {
	t.Helper()
	if r, err := dial(w, netns, inCgroup, proto, addr); err == nil {
		t.Errorf("%s %s from %s answered %q (from %s); it must not", proto, addr, netns, r.Reply, r.Peer)
	}
}

// portsOf is `ebpfnet port --json` and bpfPortsOf `ebpfnet bpf ports
// --json`.
func portsOf(t *testing.T, w *world.World, endpoint ...string) []api.Port {
	t.Helper()
	return cliJSON[[]api.Port](t, w, append([]string{"port", "--json"}, endpoint...)...)
}

func bpfPortsOf(t *testing.T, w *world.World) []api.BPFPort {
	t.Helper()
	return cliJSON[[]api.BPFPort](t, w, "bpf", "ports", "--json")
}

// noFirewallRules holds point 9 of issue 4: ebpfnet adds no iptables or
// nftables rule to the node.
func noFirewallRules(t *testing.T, w *world.World) {
	t.Helper()
	for _, argv := range [][]string{{"iptables-save"}, {"nft", "list", "ruleset"}} {
		out, err := w.Exec(w.Node, argv...)
		if err != nil {
			t.Errorf("%v", err)
		} else if strings.TrimSpace(out) != "" {
			t.Errorf("%s in the node prints rules:\n%s", argv[0], out)
		}
	}
}

// netnsPids lists the processes whose network namespace is the named one.
func netnsPids(t *testing.T, netns string) []int {
	t.Helper()
	want, err := os.Stat("/run/netns/" + netns)
	if err != nil {
		t.Fatal(err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	var pids []int
	for _, p := range procs {
		if st, err := os.Stat(p); err == nil && os.SameFile(st, want) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

// mustProbe runs a probe to its end.
func mustProbe(t *testing.T, w *world.World, netns string, args ...string) {
	t.Helper()
	if out, err := probeCmd(w, netns, false, args...).CombinedOutput(); err != nil {
		t.Fatalf("probe %v in %s: %v: %s", args, netns, err, out)
	}
}

// neighMAC is a neighbour's MAC.
func neighMAC(t *testing.T, w *world.World, netns, ip string) string {
	t.Helper()
	var neigh []struct {
		Lladdr string `json:"lladdr"`
	}
	out := w.MustExec(netns, "ip", "-j", "neigh", "show", ip)
	if err := json.Unmarshal([]byte(out), &neigh); err != nil || len(neigh) != 1 || neigh[0].Lladdr == "" {
		t.Fatalf("no neighbour %s in %s: %v: %s", ip, netns, err, out)
	}
	return neigh[0].Lladdr
}
