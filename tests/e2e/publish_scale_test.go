package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 4, point 8: 10,000 ports published in one call are listed,
// forward, and go again with unpublish. How long it takes is the
// benchmark's figure (tests/bench, "publish 10000 ports"), not a timed
// assertion here; the log shows it.
func TestPublishScale(t *testing.T) {
	w := pubWorld(t, "srv")
	srv := w.Name("srv")
	serve(t, w, srv, "tcp", ":25000", "srv")
	const n = 10000
	start := time.Now()
	out := w.MustCLI("publish", srv, "20000-29999:20000-29999")
	took := time.Since(start)
	t.Logf("publish of %d ports: %v", n, took)
	if got := len(lines(out)); got != n {
		t.Errorf("publish printed %d lines, want %d", got, n)
	}
	t.Run("listed", func(t *testing.T) {
		if got := len(portsOf(t, w, srv)); got != n {
			t.Errorf("ebpfnet port lists %d publications, want %d", got, n)
		}
		if got := len(lines(w.MustCLI("port"))); got != n {
			t.Errorf("ebpfnet port prints %d lines, want %d", got, n)
		}
		if got := len(bpfPortsOf(t, w)); got != n {
			t.Errorf("enet_ports holds %d entries, want %d", got, n)
		}
	})
	t.Run("forwards", func(t *testing.T) {
		mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:25000", "srv 198.51.100.2:", "198.51.100.1:25000")
		mustReach(t, w, w.Node, true, "tcp", "127.0.0.1:25000", "srv ", "127.0.0.1:25000")
	})
	t.Run("unpublished", func(t *testing.T) {
		start := time.Now()
		w.MustCLI("unpublish", srv, "20000-29999:20000-29999")
		t.Logf("unpublish of %d ports: %v", n, time.Since(start))
		if ps, bps := portsOf(t, w), bpfPortsOf(t, w); len(ps) != 0 || len(bps) != 0 {
			t.Errorf("after unpublish: %d publications, %d enet_ports entries", len(ps), len(bps))
		}
		mustNotReach(t, w, w.Ext, false, "tcp", "198.51.100.1:25000")
		if out := strings.TrimSpace(w.MustCLI("port")); out != "" {
			t.Errorf("ebpfnet port still prints:\n%s", out)
		}
	})
}

// A socket holds each published port: past the daemon's limit on open
// files publishing fails, clearly and with nothing applied.
func TestPublishOpenFileLimit(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	w.MustExec(w.Node, append([]string{"prlimit", "--nofile=256:256", w.Bin, "--socket", w.Socket}, w.StartArgs()...)...)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	srv := w.Name("srv")
	w.MustCLI("endpoint", "create", srv, "--network", "web")
	out, err := w.CLI("publish", srv, "8000-8299:8000-8299")
	if err == nil || !strings.Contains(out, "the daemon's limit on open files is reached") {
		t.Errorf("publishing 300 ports with 256 open files allowed: %v: %s", err, out)
	}
	if ps, bps := portsOf(t, w), bpfPortsOf(t, w); len(ps) != 0 || len(bps) != 0 {
		t.Errorf("after the failed publish: %d publications, %d enet_ports entries", len(ps), len(bps))
	}
	serve(t, w, srv, "tcp", ":8099", "srv")
	w.MustCLI("publish", srv, "8000-8099:8000-8099")
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8099", "srv 198.51.100.2:", "198.51.100.1:8099")
}
