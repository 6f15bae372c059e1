package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// twoEndpoints creates a network and two endpoints on it, a (.2) and b (.3).
func twoEndpoints(t *testing.T, w *world.World, network string, createArgs ...string) (a, b string) {
	t.Helper()
	w.MustCLI(append([]string{"network", "create", network}, createArgs...)...)
	a, b = w.Name("a"), w.Name("b")
	w.MustCLI("endpoint", "create", a, "--network", network)
	w.MustCLI("endpoint", "create", b, "--network", network)
	return a, b
}

func TestPingAndTCPBetweenEndpoints(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	bHost := inspectEndpoint(t, w, b).Interfaces[0].HostName

	txBefore := txPackets(t, w, bHost)
	grows(t, w, a, "to-bridge", func() { // ARP takes the bridge
		grows(t, w, a, "forward-peer", func() {
			w.MustExec(a, "ping", "-n", "-c", "20", "-i", "0.02", "-W", "1", "10.10.0.3")
		})
	})
	// Delivered by bpf_redirect_peer, the 20 echo requests never leave b's
	// host-side veth: only what the bridge floods (ARP, the node's IPv6
	// chatter: about 5) goes out of it.
	if sent := txPackets(t, w, bHost) - txBefore; sent >= 10 {
		t.Fatalf("%d packets went out of %s, the bridge port of b: the pings took the bridge", sent, bHost)
	}

	// So does broadcast.
	w.MustExec(b, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0")
	grows(t, w, a, "to-bridge", func() {
		out, _ := w.Exec(a, "ping", "-n", "-b", "-c", "2", "-i", "0.2", "-W", "1", "10.10.0.255")
		if !strings.Contains(out, "from 10.10.0.3") {
			t.Fatalf("b did not answer a broadcast ping:\n%s", out)
		}
	})

	srv := listen(t, w, b, "8080")
	grows(t, w, b, "forward-peer", func() { // b's SYN-ACK and ACKs
		if err := send(w, a, "10.10.0.3", "8080", "hello over tcx\n"); err != nil {
			t.Fatal(err)
		}
	})
	if got := srv.received(t); got != "hello over tcx\n" {
		t.Fatalf("b received %q, want %q", got, "hello over tcx\n")
	}
}

// txPackets is how many packets a node device has sent.
func txPackets(t *testing.T, w *world.World, dev string) uint64 {
	t.Helper()
	var ls []struct {
		Stats struct {
			TX struct {
				Packets uint64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	out := w.MustExec(w.Node, "ip", "-j", "-s", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("ip -s link show %s: %v\n%s", dev, err, out)
	}
	return ls[0].Stats.TX.Packets
}

func TestIsolationBetweenNetworks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "red", "--subnet", "10.11.0.0/24")
	w.MustCLI("network", "create", "blue", "--subnet", "10.12.0.0/24")
	r1, r2, b := w.Name("r1"), w.Name("r2"), w.Name("b")
	w.MustCLI("endpoint", "create", r1, "--network", "red")
	w.MustCLI("endpoint", "create", r2, "--network", "red")
	w.MustCLI("endpoint", "create", b, "--network", "blue")

	mustPing(t, w, r1, "10.11.0.3") // its own network
	mustPing(t, w, r1, "10.11.0.1") // its own gateway
	grows(t, w, r1, "drop-isolation", func() { mustNotPing(t, w, r1, "10.12.0.2") })
	grows(t, w, r1, "drop-isolation", func() { mustNotPing(t, w, r1, "10.12.0.99") }) // the other subnet
	grows(t, w, b, "drop-isolation", func() { mustNotPing(t, w, b, "10.11.0.2") })
}

func TestSpoofedSourceDropped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	mustPing(t, w, a, "10.10.0.3")

	w.MustExec(a, "ip", "addr", "add", "10.10.0.77/24", "dev", "eth0")
	grows(t, w, a, "drop-spoofed-ip", func() { mustNotPing(t, w, a, "10.10.0.3", "-I", "10.10.0.77") })
	mustPing(t, w, a, "10.10.0.3") // its own address still works

	w.MustExec(a, "ip", "link", "set", "eth0", "address", "02:00:00:00:00:77")
	grows(t, w, a, "drop-spoofed-mac", func() { mustNotPing(t, w, a, "10.10.0.3") })
}

func TestICCFalse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := twoEndpoints(t, w, "quiet", "--subnet", "10.13.0.0/24", "--opt", "icc=false")
	if n := inspectNetwork(t, w, "quiet"); n.ICC {
		t.Fatalf("network quiet has icc=true after --opt icc=false")
	}
	grows(t, w, a, "drop-icc", func() { mustNotPing(t, w, a, "10.13.0.3") })
	grows(t, w, b, "drop-icc", func() { mustNotPing(t, w, b, "10.13.0.2") })
	mustPing(t, w, a, "10.13.0.1")
	mustPing(t, w, b, "10.13.0.1")
}
