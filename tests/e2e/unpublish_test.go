package e2e

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 4, point 7: unpublishing removes the mapping and the flows through
// it, so a UDP sender that keeps sending stops reaching the endpoint, and
// once the host port leads to another endpoint reaches that one, not the
// old (moby #8795). Removing an endpoint unpublishes its ports.
func TestUnpublish(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a", "b")
	a, b := w.Name("a"), w.Name("b")
	toA := serve(t, w, a, "udp", ":53", "a")
	toB := serve(t, w, b, "udp", ":53", "b")
	w.MustCLI("publish", a, "5353:53/udp")
	sender := probeCmd(w, w.Ext, false, "stream", "udp", "198.51.100.1:5353")
	sender.Stderr = os.Stderr
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Process.Kill(); _ = sender.Wait() })
	if !world.Wait(3*time.Second, func() bool { return toA.count() > 5 }) {
		t.Fatalf("the sender does not reach a: %d datagrams", toA.count())
	}
	if n := flowsTo(t, w, "198.51.100.1:5353"); n != 1 {
		t.Fatalf("%d flows to 198.51.100.1:5353 in enet_ct, want 1", n)
	}

	if got := lines(w.MustCLI("unpublish", a, "5353:53/udp")); len(got) != 1 || got[0] != "53/udp -> 0.0.0.0:5353" {
		t.Errorf("unpublish printed %q", got)
	}
	if ps, bps := portsOf(t, w), bpfPortsOf(t, w); len(ps) != 0 || len(bps) != 0 {
		t.Errorf("after unpublish: ports %v, enet_ports %v", ps, bps)
	}
	if n := flowsTo(t, w, "198.51.100.1:5353"); n != 0 {
		t.Errorf("%d flows to 198.51.100.1:5353 are left in enet_ct", n)
	}
	stopped := toA.count()
	time.Sleep(500 * time.Millisecond)
	if n := toA.count() - stopped; n > 1 {
		t.Errorf("a still gets the sender's datagrams after unpublish: %d more", n)
	}

	w.MustCLI("publish", b, "5353:53/udp")
	if !world.Wait(3*time.Second, func() bool { return toB.count() > 5 }) {
		t.Errorf("the sender does not reach b, which the host port leads to now: %d datagrams", toB.count())
	}
	if n := toA.count() - stopped; n > 1 {
		t.Errorf("a gets the sender's datagrams after the port went to b: %d more", n)
	}
	if _, err := w.CLI("unpublish", a, "5353:53/udp"); err == nil {
		t.Errorf("unpublishing what a no longer publishes succeeded")
	}

	w.MustCLI("endpoint", "rm", b)
	if ps, bps := portsOf(t, w), bpfPortsOf(t, w); len(ps) != 0 || len(bps) != 0 {
		t.Errorf("after endpoint rm: ports %v, enet_ports %v", ps, bps)
	}
	w.MustCLI("publish", a, "5353:53/udp")
	back := toA.count()
	if !world.Wait(3*time.Second, func() bool { return toA.count() > back+5 }) {
		t.Errorf("the host port of a removed endpoint, published again for a, does not reach a")
	}
}

// A node socket connected through a published port was pointed at the
// endpoint once, by connect4; unpublishing ends it, so it does not go on
// reaching the old endpoint as no forwarded flow does.
func TestUnpublishEndsNodeSockets(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a")
	a := w.Name("a")
	toA := serve(t, w, a, "udp", ":53", "a")
	listen(t, w, a, "80")
	w.MustCLI("publish", a, "5353:53/udp", "8080:80")
	udp := startStream(t, w, "udp-connected", "127.0.0.1:5353")
	tcpSender := startStream(t, w, "tcp", "127.0.0.1:8080")
	established := func() bool {
		out, _ := w.Exec(a, "ss", "-Htn", "state", "established", "sport", "=", ":80")
		return strings.TrimSpace(out) != ""
	}
	if !world.Wait(3*time.Second, func() bool { return toA.count() > 5 && established() }) {
		t.Fatalf("the node's connected senders do not reach a: %d datagrams, TCP established %v", toA.count(), established())
	}
	w.MustCLI("unpublish", a, "5353:53/udp", "8080:80")
	stopped := toA.count()
	for _, s := range []*streamer{udp, tcpSender} {
		select {
		case <-s.done:
			t.Logf("the %s sender: %s", s.proto, strings.TrimSpace(s.said.String()))
			if !strings.Contains(s.said.String(), "send:") {
				t.Errorf("the %s sender ended without a send error: %q", s.proto, s.said.String())
			}
		case <-time.After(5 * time.Second):
			t.Errorf("the %s sender goes on after unpublish", s.proto)
		}
	}
	if n := toA.count() - stopped; n > 1 {
		t.Errorf("a got %d datagrams from the node's socket after unpublish", n)
	}
}

// streamer is a stream probe running in the node's cgroup.
type streamer struct {
	proto string
	said  bytes.Buffer
	done  chan struct{}
}

func startStream(t *testing.T, w *world.World, proto, addr string) *streamer {
	t.Helper()
	s := &streamer{proto: proto, done: make(chan struct{})}
	cmd := probeCmd(w, w.Node, true, "stream", proto, addr)
	cmd.Stdout, cmd.Stderr = &s.said, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	return s
}

// flowsTo counts the enet_ct flows whose original destination is dst.
func flowsTo(t *testing.T, w *world.World, dst string) int {
	t.Helper()
	n := 0
	for _, f := range cliJSON[[]api.BPFFlow](t, w, "bpf", "ct", "--json") {
		if f.Dst == dst {
			n++
		}
	}
	return n
}

// An endpoint's masquerade flow from a port it then publishes, as its
// reply to a datagram that was in flight when the port was unpublished,
// holds the tuple the replies of the published flow need. Publishing
// removes it, or the client it went to could not reach the port until it
// expired.
func TestPublishAfterMasqueradeFromPort(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "a")
	a := w.Name("a")
	if _, err := dial(w, a, false, "udp", "198.51.100.2:40000", "0.0.0.0:53"); err == nil {
		t.Fatal("nothing in ext answers on 40000, yet the probe got a reply")
	}
	if n := flowsTo(t, w, "198.51.100.2:40000"); n != 1 {
		t.Fatalf("%d masquerade flows from a's port 53 to ext, want 1", n)
	}
	serve(t, w, a, "udp", ":53", "a")
	w.MustCLI("publish", a, "5353:53/udp")
	r, err := dial(w, w.Ext, false, "udp", "198.51.100.1:5353", "198.51.100.2:40000")
	if err != nil {
		t.Fatalf("ext from port 40000 cannot reach a's published port: %v", err)
	}
	if r.Peer != "198.51.100.1:5353" {
		t.Errorf("the reply came from %s, want 198.51.100.1:5353", r.Peer)
	}
}
