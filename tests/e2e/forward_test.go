package e2e

import (
	"strings"
	"testing"
)

func TestPingBetweenEndpoints(t *testing.T) {
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	a, b := w.Name("a"), w.Name("b")
	w.MustCLI("endpoint", "create", a, "--network", "web")
	w.MustCLI("endpoint", "create", b, "--network", "web")
	w.MustExec(a, "ping", "-c", "2", "-i", "0.2", "-W", "1", "10.10.0.3")
	stats := w.MustCLI("bpf", "stats")
	if !strings.Contains(stats, "forward-peer") {
		t.Fatalf("no forward-peer verdict counted:\n%s", stats)
	}
}
