package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 19, point 6: traceroute from ext to a published port shows the
// node as the first hop, in TCP, UDP and ICMP mode: the node's time
// exceeded, sent about the packet it translated, leaves quoting the packet
// as ext sent it.
func TestTracerouteToPublishedPort(t *testing.T) {
	t.Parallel()
	w, srv, _ := srvWorld(t)
	w.MustCLI("publish", srv, "8080:80", "5353:53/udp")
	node := world.NodeIP.String()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"tcp", []string{"-T", "-p", "8080"}},
		{"udp", []string{"-U", "-p", "5353"}},
		{"icmp", []string{"-I"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"traceroute", "-n", "-q", "1", "-w", "2", "-m", "3"}, c.args...), node)
			out := w.MustExec(w.Ext, args...)
			if hop := hopLine(out, 1); !strings.Contains(hop, node) {
				t.Fatalf("traceroute %s: hop 1 is %q, want %s:\n%s", strings.Join(c.args, " "), hop, node, out)
			}
		})
	}
	if counted(t, w, world.UplinkDev, "forward-icmp-error") == 0 {
		t.Fatalf("no forward-icmp-error counted on %s:\n%s", world.UplinkDev, w.MustCLI("bpf", "stats"))
	}
}

// hopLine is traceroute's line for hop n.
func hopLine(out string, n int) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[0] == fmt.Sprint(n) {
			return l
		}
	}
	return ""
}
