package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

const (
	crashSeed       = 6
	crashIterations = 60
	// crashMaxDelay bounds how long a burst runs before the kill: long
	// enough for several operations, short enough that most kills land
	// inside one.
	crashMaxDelay = 300 * time.Millisecond
)

// TestCrashDuringBurst: SIGKILL of the daemon at a random point of a burst
// of API calls, then start, now and then killed once more during that
// start. The store must show every operation that
// answered, and the one the kill cut short either whole or not at all;
// the kernel must hold exactly what the store does.
func TestCrashDuringBurst(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cl := api.NewClient(w.Socket)
	r := rand.New(rand.NewSource(crashSeed))
	m := newModel()
	var cut, tookEffect, ops, restarts, early int
	for i := 0; i < crashIterations; i++ {
		delay := time.Duration(r.Int63n(int64(crashMaxDelay)))
		b := startBurst(cl, w, m, r.Int63())
		time.Sleep(delay)
		dead := killDaemon(t, w)
		res := <-b
		ops += res.done
		if r.Intn(4) == 0 {
			restarts++
			if killDuringStart(t, w, r, dead) {
				early++
			}
		}
		w.StartDaemon()
		got := observe(t, cl)
		want := []string{res.model.String()}
		if res.cut != nil {
			cut++
			after := res.model.clone()
			res.cut.apply(after)
			want = append(want, after.String())
			if got == want[1] && want[0] != want[1] {
				tookEffect++
			}
		}
		if !slices.Contains(want, got) {
			t.Fatalf("iteration %d: after the kill during %v the store holds\n%s\nwant one of\n%s",
				i, res.cut, got, strings.Join(want, "\n--- or\n"))
		}
		if held := heldPorts(t, w, got); len(held) > 0 {
			t.Fatalf("iteration %d: after the kill during %v, host ports %v are held but not published", i, res.cut, held)
		}
		if d := inconsistencies(t, w); len(d) > 0 {
			t.Fatalf("iteration %d: after the kill during %v, store and kernel disagree:\n  %s", i, res.cut, strings.Join(d, "\n  "))
		}
		m = modelOf(t, cl)
	}
	t.Logf("crash: seed %d, %d iterations, %d operations answered, %d kills landed mid-operation "+
		"(%d took effect, %d left no trace); %d more kills during start, %d of them before it answered",
		crashSeed, crashIterations, ops, cut, tookEffect, cut-tookEffect, restarts, early)
}

// killDaemon sends SIGKILL to the world's daemon and waits until it is
// gone; it returns the daemon's pid.
func killDaemon(t *testing.T, w *world.World) int {
	t.Helper()
	pid, ok := daemonPid(w)
	if !ok {
		t.Fatalf("no daemon of world %s to kill", w.ID)
	}
	kill(t, pid)
	return pid
}

// daemonPid is the pid in the state dir's pid file, if that process is
// this world's daemon.
func daemonPid(w *world.World) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(w.Dir, "state", "daemon.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, false
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return pid, err == nil && strings.Contains(string(cmd), w.Socket)
}

func kill(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill the daemon: %v", err)
	}
	gone := world.Wait(10*time.Second, func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(stat), ") Z ")
	})
	if !gone {
		t.Fatalf("the daemon (pid %d) survived SIGKILL", pid)
	}
}

// killDuringStart starts the daemon and kills it after a random delay
// from its first sign of life: loading, reconciling, or just ready. It
// reports whether the kill came before the daemon answered.
func killDuringStart(t *testing.T, w *world.World, r *rand.Rand, dead int) bool {
	t.Helper()
	delay := time.Duration(r.Int63n(int64(crashMaxDelay)))
	start := w.Cmd(w.Node, append([]string{w.Bin, "--socket", w.Socket}, w.StartArgs()...)...)
	if err := start.Start(); err != nil {
		t.Fatalf("start the daemon: %v", err)
	}
	var pid int
	born := world.Wait(time.Minute, func() bool {
		p, ok := daemonPid(w)
		pid = p
		return ok && p != dead
	})
	if !born {
		_ = start.Process.Kill()
		t.Fatalf("the daemon wrote no pid file")
	}
	time.Sleep(delay)
	kill(t, pid)
	return start.Wait() != nil
}

// heldPorts lists the burst's host ports a socket holds in the node though
// the store publishes none of them: a reservation left behind.
func heldPorts(t *testing.T, w *world.World, store string) []string {
	t.Helper()
	var held []string
	err := world.InNetns(w.Node, func() error {
		for i := 0; i < burstPorts; i++ {
			for _, proto := range []string{"tcp", "udp"} {
				key := portKey(proto, uint16(burstPortFirst+i))
				if !strings.Contains(store, "port "+key+" ->") && portHeld(proto, "0.0.0.0", uint16(burstPortFirst+i)) {
					held = append(held, key)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return held
}

// burstResult is what a burst saw: the model after every operation that
// answered, and the operation the kill cut short, if one was.
type burstResult struct {
	model *model
	cut   *op
	done  int
}

// startBurst runs random operations one after another until the daemon
// stops answering.
func startBurst(cl *api.Client, w *world.World, m *model, seed int64) <-chan burstResult {
	out := make(chan burstResult, 1)
	go func() {
		r := rand.New(rand.NewSource(seed))
		res := burstResult{model: m.clone()}
		for {
			o := nextOp(r, w, res.model)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := o.do(ctx, cl)
			cancel()
			var se *api.StatusError
			switch {
			case err == nil:
				o.apply(res.model)
				res.done++
			case errors.As(err, &se):
				res.done++
			default:
				res.cut = &o
				out <- res
				return
			}
		}
	}()
	return out
}

// observe is the store as the API shows it, in the model's terms.
func observe(t *testing.T, cl *api.Client) string {
	t.Helper()
	return modelOf(t, cl).String()
}

func modelOf(t *testing.T, cl *api.Client) *model {
	t.Helper()
	s, err := readStore(context.Background(), cl)
	if err != nil {
		t.Fatalf("read the store: %v", err)
	}
	m := newModel()
	for _, n := range s.nets {
		if !n.Default {
			m.nets[n.Name] = true
		}
	}
	for _, e := range s.eps {
		for _, i := range e.Interfaces {
			m.eps[e.Name] = append(m.eps[e.Name], i.Network)
		}
		if len(e.Interfaces) == 0 {
			m.eps[e.Name] = []string{}
		}
	}
	for _, p := range s.ports {
		m.ports[portKey(p.Proto, p.HostPort)] = fmt.Sprintf("%s:%d", p.Endpoint, p.ContainerPort)
	}
	return m
}

// model is what the store should hold: networks (but the default),
// endpoints with their networks in interface order, publications.
type model struct {
	nets  map[string]bool
	eps   map[string][]string
	ports map[string]string // "tcp/18001" -> "endpoint:80"
}

func newModel() *model {
	return &model{nets: map[string]bool{}, eps: map[string][]string{}, ports: map[string]string{}}
}

func (m *model) clone() *model {
	c := newModel()
	for k, v := range m.nets {
		c.nets[k] = v
	}
	for k, v := range m.eps {
		c.eps[k] = slices.Clone(v)
	}
	for k, v := range m.ports {
		c.ports[k] = v
	}
	return c
}

func (m *model) String() string {
	var lines []string
	for n := range m.nets {
		lines = append(lines, "network "+n)
	}
	for e, nets := range m.eps {
		lines = append(lines, "endpoint "+e+" on "+strings.Join(nets, ","))
	}
	for k, v := range m.ports {
		lines = append(lines, "port "+k+" -> "+v)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func portKey(proto string, port uint16) string { return fmt.Sprintf("%s/%d", proto, port) }
