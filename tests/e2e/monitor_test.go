package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// monitorRun is `ebpfnet monitor --json` running in the node, its lines
// kept.
type monitorRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	evs  []api.MonitorEvent
	done chan struct{}
}

// startMonitor runs the monitor and returns once it is attached.
func startMonitor(t *testing.T, w *world.World, args ...string) *monitorRun {
	t.Helper()
	m := &monitorRun{cmd: w.Cmd(w.Node, append([]string{w.Bin, "--socket", w.Socket, "monitor", "--json"}, args...)...),
		done: make(chan struct{})}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	m.cmd.Stderr = &stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.cmd.Process.Kill(); _ = m.cmd.Wait() })
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev api.MonitorEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				m.mu.Lock()
				m.evs = append(m.evs, ev)
				m.mu.Unlock()
			}
		}
	}()
	if _, ok := m.wait(5*time.Second, func(ev api.MonitorEvent) bool { return ev.Type == "attached" }); !ok {
		t.Fatalf("monitor %v did not attach: %s", args, stderr.String())
	}
	return m
}

// wait waits for an event match takes.
func (m *monitorRun) wait(timeout time.Duration, match func(api.MonitorEvent) bool) (api.MonitorEvent, bool) {
	var got api.MonitorEvent
	ok := world.Wait(timeout, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, ev := range m.evs {
			if match(ev) {
				got = ev
				return true
			}
		}
		return false
	})
	return got, ok
}

func (m *monitorRun) all() []api.MonitorEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]api.MonitorEvent(nil), m.evs...)
}

func (m *monitorRun) must(t *testing.T, what string, match func(api.MonitorEvent) bool) api.MonitorEvent {
	t.Helper()
	ev, ok := m.wait(10*time.Second, match)
	if !ok {
		var lines []string
		for _, e := range m.all() {
			raw, _ := json.Marshal(e)
			lines = append(lines, string(raw))
		}
		t.Fatalf("no %s among the monitor's %d events:\n%s", what, len(lines), strings.Join(lines, "\n"))
	}
	return ev
}

// Issue 15: every kind of event, made by real traffic, read back through
// `ebpfnet monitor --json`, by several monitors at once with filters.
func TestMonitor(t *testing.T) {
	w := newWorld(t, "--gc-interval", "1s", "--ct-timeout", "icmp=2s")
	a, b := twoEndpoints(t, w, "web", "--subnet", "10.50.0.0/24")
	w.MustCLI("publish", a, "8080:80")
	srv := w.Cmd(a, "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	all := startMonitor(t, w)
	dropsOfB := startMonitor(t, w, "--type", "drop", "--endpoint", b)
	flows := startMonitor(t, w, "--type", "flow", "--proto", "tcp", "--port", "8080")
	aIP, bIP := epIP(t, w, "a", "web"), epIP(t, w, "b", "web")

	t.Run("a verdict, with where it went", func(t *testing.T) {
		mustPing(t, w, a, bIP)
		ev := all.must(t, "forward-peer from a to b", func(ev api.MonitorEvent) bool {
			return ev.Type == "verdict" && ev.Reason == "forward-peer" && ev.Endpoint == a && ev.Peer == b
		})
		if ev.Program != "enet_from_ep" || ev.Verdict != "forward" || ev.Proto != "icmp" || !strings.HasPrefix(ev.Src, aIP+":") {
			t.Fatalf("forward-peer event: %+v", ev)
		}
	})
	t.Run("drops, by reason, to the monitors that want them", func(t *testing.T) {
		w.MustExec(a, "ip", "addr", "add", "10.50.0.77/24", "dev", "eth0")
		w.MustExec(b, "ip", "addr", "add", "10.50.0.78/24", "dev", "eth0")
		_ = ping(w, a, bIP, "-I", "10.50.0.77")
		_ = ping(w, b, aIP, "-I", "10.50.0.78")
		all.must(t, "a's spoofed drop", func(ev api.MonitorEvent) bool {
			return ev.Type == "drop" && ev.Reason == "drop-spoofed-ip" && ev.Endpoint == a && ev.Verdict == "drop"
		})
		dropsOfB.must(t, "b's spoofed drop", func(ev api.MonitorEvent) bool {
			return ev.Type == "drop" && ev.Endpoint == b && strings.HasPrefix(ev.Src, "10.50.0.78:")
		})
		for _, ev := range dropsOfB.all() {
			if ev.Type != "attached" && (ev.Type != "drop" || ev.Endpoint != b && ev.Peer != b) {
				t.Fatalf("--type drop --endpoint b got %+v", ev)
			}
		}
	})
	t.Run("masquerade: a new flow and its translation, then its end", func(t *testing.T) {
		mustPing(t, w, b, world.ExtIP.String())
		ev := all.must(t, "b's masqueraded flow", func(ev api.MonitorEvent) bool {
			return ev.Type == "flow" && ev.Translation == "masquerade" && ev.Endpoint == b
		})
		if !strings.HasPrefix(ev.Src, bIP+":") || !strings.HasPrefix(ev.XSrc, world.NodeIP.String()+":") ||
			!strings.HasPrefix(ev.Dst, world.ExtIP.String()) {
			t.Fatalf("masquerade flow: %+v", ev)
		}
		end := all.must(t, "the masqueraded flow's end", func(e api.MonitorEvent) bool {
			return e.Type == "flow-end" && e.Translation == "masquerade" && e.Src == ev.Src
		})
		if end.Packets < 4 || end.Bytes == 0 || end.Seconds <= 0 || end.Endpoint != b {
			t.Fatalf("flow end: %+v; want the two pings and their replies", end)
		}
	})
	t.Run("a published port: DNAT from outside, hairpin from an endpoint", func(t *testing.T) {
		if err := send(w, w.Ext, world.NodeIP.String(), "8080", ""); err != nil {
			t.Fatal(err)
		}
		ev := flows.must(t, "the DNAT flow", func(ev api.MonitorEvent) bool {
			return ev.Type == "flow" && ev.Translation == "dnat"
		})
		if ev.XDst != aIP+":80" || ev.Endpoint != a || !strings.HasPrefix(ev.Src, world.ExtIP.String()+":") {
			t.Fatalf("DNAT flow: %+v", ev)
		}
		if err := send(w, b, world.NodeIP.String(), "8080", ""); err != nil {
			t.Fatal(err)
		}
		flows.must(t, "the hairpin flow", func(ev api.MonitorEvent) bool {
			return ev.Type == "flow" && ev.Translation == "hairpin" && ev.XDst == aIP+":80"
		})
	})
	t.Run("the socket rewrite of a node process", func(t *testing.T) {
		cmd := w.CgroupCmd(w.Node, "nc", "-N", "-w", "2", "127.0.0.1", "8080")
		cmd.Stdin = strings.NewReader("")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nc 127.0.0.1 8080 in the cgroup: %v %s", err, out)
		}
		ev := flows.must(t, "the socket rewrite", func(ev api.MonitorEvent) bool { return ev.Type == "socket" })
		if ev.Dst != "127.0.0.1:8080" || ev.XDst != aIP+":80" || ev.Endpoint != a || ev.Translation != "socket" {
			t.Fatalf("socket rewrite: %+v", ev)
		}
		for _, ev := range flows.all() {
			if ev.Type != "attached" && ev.Type != "lost" && (ev.Proto != "tcp" ||
				!strings.Contains(ev.Src+ev.Dst+ev.XSrc+ev.XDst, ":8080")) {
				t.Fatalf("--type flow --proto tcp --port 8080 got %+v", ev)
			}
		}
	})
}

// Issue 15: a monitor that does not read loses events, counted and shown
// to it, and neither the datapath nor the other monitors wait for it.
func TestMonitorSlowReader(t *testing.T) {
	w := newWorld(t)
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.51.0.0/24")
	bIP := epIP(t, w, "b", "web")
	cl := api.NewClient(w.Socket)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow, err := cl.Monitor(ctx, api.MonitorFilter{Types: []string{"verdict"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if ev, err := slow.Next(); err != nil || ev.Type != "attached" {
		t.Fatalf("first line %+v %v", ev, err)
	}
	fast := startMonitor(t, w, "--type", "verdict", "--endpoint", a)
	// 20000 echo requests and their replies, each a verdict at a's and
	// at b's veth: far more than a monitor's 4096 and a socket's buffer.
	out := w.MustExec(a, "ping", "-q", "-f", "-c", "20000", bIP)
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("the flood lost packets with a monitor not reading:\n%s", out)
	}
	fast.must(t, "the fast monitor's verdicts", func(ev api.MonitorEvent) bool {
		return ev.Type == "verdict" && ev.Endpoint == a
	})
	var lost uint64
	deadline := time.Now().Add(30 * time.Second)
	for lost == 0 && time.Now().Before(deadline) {
		ev, err := slow.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == "lost" && ev.LostBy == "reader" {
			lost = ev.Lost
		}
	}
	if lost == 0 {
		t.Fatal("the slow monitor was told of no lost events")
	}
	t.Logf("the slow monitor lost %d events, and was told so", lost)

	// With no reader at all (bpf trace all, no monitor), the ring fills
	// and what it has no room for is counted, never waited for.
	_ = slow.Close()
	_ = fast.cmd.Process.Kill()
	w.MustCLI("bpf", "trace", "all")
	grows(t, w, a, "event-lost", func() { w.MustExec(a, "ping", "-q", "-f", "-c", "20000", bIP) })
	w.MustCLI("bpf", "trace", "off")
}

// Issue 15: a daemon that stops ends its monitors' streams at once (its
// API server waits for no stream), and the monitor exits cleanly.
func TestMonitorDaemonStop(t *testing.T) {
	w := newWorld(t)
	m := startMonitor(t, w, "--type", "flow")
	start := time.Now()
	w.StopDaemon()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("daemon stop took %s with a monitor attached", took)
	}
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the monitor's stream did not end with the daemon")
	}
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("monitor exited with %v", err)
	}
}
