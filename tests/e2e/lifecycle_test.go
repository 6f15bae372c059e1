package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// curl fetches http://addr/ from a namespace: the page, or the error.
func curl(w *world.World, ns, addr string) (string, error) {
	return w.Exec(ns, "curl", "-sS", "--max-time", "3", "http://"+addr+"/")
}

// waitState waits for an endpoint to reach a state and returns how long
// it took; it fails the test after 10 s.
func waitState(t *testing.T, w *world.World, name, state string) time.Duration {
	t.Helper()
	start := time.Now()
	if !world.Wait(10*time.Second, func() bool { return inspectEndpoint(t, w, name).State == state }) {
		t.Fatalf("endpoint %s is %s after 10 s, want %s", name, inspectEndpoint(t, w, name).State, state)
	}
	return time.Since(start)
}

// ifacesOf lists the host ifindexes enet_ifaces holds, from bpftool.
func ifacesOf(t *testing.T, w *world.World) string {
	t.Helper()
	out, err := exec.Command("bpftool", "map", "dump", "pinned", w.BPFFS+"/enet_ifaces").CombinedOutput()
	if err != nil {
		t.Fatalf("bpftool: %v: %s", err, out)
	}
	return string(out)
}

// TestEndpointFollowsContainer: a real podman container's namespace,
// adopted, goes away when the container stops; ebpfnet sees it at once,
// marks the endpoint gone, refuses what comes to its published port, keeps
// its address and ports, refuses changes to it by name, and takes the
// restarted container's namespace back with `endpoint attach`.
func TestEndpointFollowsContainer(t *testing.T) {
	w := pubWorld(t)
	pod := w.Podman()
	pid := pod.Run("c1", "httpd", "-f", "-p", "80", "-h", "/www")
	ep := w.Name("c1")
	w.MustCLI("endpoint", "create", ep, "--network", "web", "--netns", fmt.Sprintf("/proc/%d/ns/net", pid),
		"-p", "8080:80", "-p", "5353:53/udp")
	if out, err := curl(w, w.Ext, "198.51.100.1:8080"); err != nil || !strings.Contains(out, "hello from podman") {
		t.Fatalf("published port before the stop: %q %v", out, err)
	}
	before := inspectEndpoint(t, w, ep)
	host := before.Interfaces[0].HostIfindex

	if out, err := pod.Exec("stop", "-t", "0", "c1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	took := waitState(t, w, ep, "gone")
	t.Logf("gone %s after podman stop returned", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the daemon took %s to notice", took)
	}
	mustBeConsistent(t, w)
	gone := inspectEndpoint(t, w, ep)
	if gone.Interfaces[0].IP != before.Interfaces[0].IP || len(portsOf(t, w, ep)) != 2 {
		t.Errorf("gone endpoint lost its address or ports: %+v %+v", gone, portsOf(t, w, ep))
	}
	for _, e := range cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json") {
		if e.IP == before.Interfaces[0].IP {
			t.Errorf("bpf endpoints keeps the gone endpoint: %+v", e)
		}
	}
	if strings.Contains(ifacesOf(t, w), fmt.Sprintf(`"key": %d,`, host)) {
		t.Errorf("enet_ifaces keeps ifindex %d of the gone endpoint:\n%s", host, ifacesOf(t, w))
	}
	for _, c := range cliJSON[[]api.BPFCounter](t, w, "bpf", "stats", "--json") {
		if c.Ifindex == host {
			t.Errorf("enet_stats keeps counters of ifindex %d of the gone endpoint: %+v", host, c)
		}
	}
	// Refused at once, as by a node with nothing on the port.
	for _, proto := range []string{"tcp", "udp-connected"} {
		addr := map[string]string{"tcp": "198.51.100.1:8080", "udp-connected": "198.51.100.1:5353"}[proto]
		if _, err := dial(w, w.Ext, false, proto, addr); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s to the gone endpoint's port: %v; want refused", proto, err)
		}
		// The node's own sockets: no rewrite to the gone endpoint.
		node := strings.Replace(addr, "198.51.100.1", "127.0.0.1", 1)
		if _, err := dial(w, w.Node, true, proto, node); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s from the node to the gone endpoint's port: %v; want refused", proto, err)
		}
	}
	if n := counted(t, w, world.UplinkDev, "drop-endpoint-gone"); n < 2 {
		t.Errorf("drop-endpoint-gone counts %d on the uplink, want the refused packets", n)
	}
	mustFailCLI(t, w, fmt.Sprintf("endpoint %q is gone", ep), "publish", ep, "9090:90")
	w.MustCLI("network", "create", "other", "--subnet", "10.11.0.0/24")
	mustFailCLI(t, w, fmt.Sprintf("endpoint %q is gone", ep), "network", "connect", "other", ep)

	if out, err := pod.Exec("start", "c1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	w.MustCLI("endpoint", "attach", ep, "--netns", fmt.Sprintf("/proc/%d/ns/net", pod.Pid("c1")))
	if got := inspectEndpoint(t, w, ep); got.State != "ready" || got.Interfaces[0].IP != before.Interfaces[0].IP {
		t.Fatalf("after attach: %+v", got)
	}
	mustBeConsistent(t, w)
	if out, err := curl(w, w.Ext, "198.51.100.1:8080"); err != nil || !strings.Contains(out, "hello from podman") {
		t.Fatalf("published port after attach: %q %v", out, err)
	}
	w.MustCLI("endpoint", "rm", ep)
	if out := ifacesOf(t, w); strings.Contains(out, "key") {
		t.Errorf("enet_ifaces keeps entries after the last endpoint went:\n%s", out)
	}
}

// TestEndpointGoneRemove: with --on-gone remove, a stopped container's
// endpoint goes whole, its address and host port free at once.
func TestEndpointGoneRemove(t *testing.T) {
	w := pubWorld(t)
	pod := w.Podman()
	pid := pod.Run("c2", "sleep", "1000")
	ep := w.Name("c2")
	w.MustCLI("endpoint", "create", ep, "--network", "web", "--netns", fmt.Sprintf("/proc/%d/ns/net", pid),
		"--on-gone", "remove", "-p", "8080:80")
	if out, err := pod.Exec("stop", "-t", "0", "c2"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !world.Wait(10*time.Second, func() bool { out, _ := w.CLI("endpoint", "inspect", ep); return strings.Contains(out, "not found") }) {
		t.Fatalf("endpoint %s stays after its container stopped", ep)
	}
	// Its address and host port are free again.
	w.MustCLI("endpoint", "create", w.Name("next"), "--network", "web", "--ip", "10.10.0.2", "-p", "8080:80")
}

// TestDisconnectParksPorts (issue 11, point 3): publications belong to the
// endpoint. Disconnecting its first network moves them to the next
// interface; disconnecting the last parks them (listed, refused, the host
// port let go); connecting again brings them back.
func TestDisconnectParksPorts(t *testing.T) {
	w, srv, _ := srvWorld(t)
	w.MustCLI("network", "create", "db", "--subnet", "10.11.0.0/24")
	w.MustCLI("network", "connect", "db", srv)
	w.MustCLI("publish", srv, "8080:80")
	reach := func() {
		mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
	}
	reach()

	w.MustCLI("network", "disconnect", "web", srv)
	if ps := portsOf(t, w, srv); len(ps) != 1 || ps[0].Target != "10.11.0.2:80" {
		t.Fatalf("after disconnecting web: %+v; want the port on eth1's 10.11.0.2", ps)
	}
	reach()

	w.MustCLI("network", "disconnect", "db", srv)
	if ps := portsOf(t, w, srv); len(ps) != 1 || ps[0].HostPort != 8080 || ps[0].Target != "" {
		t.Fatalf("after disconnecting the last network: %+v; want the port parked", ps)
	}
	if _, err := dial(w, w.Ext, false, "tcp", "198.51.100.1:8080"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a parked port: %v; want refused", err)
	}
	// Its host port is free: a process of the node can take it.
	mustProbe(t, w, w.Node, "bind", "tcp", "0.0.0.0:8080")

	w.MustCLI("network", "connect", "web", srv)
	if ps := portsOf(t, w, srv); len(ps) != 1 || ps[0].Target == "" {
		t.Fatalf("connected again: %+v; want the port published", ps)
	}
	mustReach(t, w, w.Ext, false, "tcp", "198.51.100.1:8080", "srv 198.51.100.2:", "198.51.100.1:8080")
}

// TestSubnetsThatBreakTheNode (issue 11, point 2): a network on the
// uplink's subnet, on loopback, link-local or multicast is refused,
// naming the conflict, and nothing is made.
func TestSubnetsThatBreakTheNode(t *testing.T) {
	w := newWorld(t)
	before := w.MustCLI("network", "ls")
	for subnet, want := range map[string]string{
		"198.51.100.0/24":  "overlaps the node's route 198.51.100.0/24 dev up0",
		"198.51.100.0/30":  "overlaps the node's",
		"198.51.100.64/26": "overlaps the node's route 198.51.100.0/24 dev up0",
		"127.0.0.0/24":     "overlaps loopback (127.0.0.0/8)",
		"169.254.7.0/24":   "overlaps link-local (169.254.0.0/16)",
		"224.1.0.0/16":     "overlaps multicast (224.0.0.0/4)",
	} {
		mustFailCLI(t, w, want, "network", "create", "x", "--subnet", subnet)
	}
	if after := w.MustCLI("network", "ls"); after != before {
		t.Fatalf("networks changed:\n%s\nto\n%s", before, after)
	}
}
