package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 14 (first part): enet_xdp_up on the uplink drops prefiltered
// sources and sources claiming to be inside an endpoint subnet, counted,
// and lets the rest through; the prefilter changes without reattaching;
// the program stays through a restart and goes with a reset.
func TestXDPEarlyDrops(t *testing.T) {
	w := newWorld(t, "--xdp", "native")
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.60.0.0/24")
	w.MustCLI("publish", a, "8080:80")
	if st := status(t, w); st.XDP.Mode != "native" {
		t.Fatalf("status xdp %+v, want native on a veth", st.XDP)
	}
	if got := xdpOn(t, w); got != "driver enet_xdp_up" {
		t.Fatalf("xdp on the uplink: %q", got)
	}
	node := world.NodeIP.String()
	mustPing(t, w, w.Ext, node)
	t.Run("a prefiltered source is dropped, and counted per prefix", func(t *testing.T) {
		w.MustCLI("prefilter", "add", world.ExtIP.String()+"/32", "203.0.113.0/24")
		mustNotPing(t, w, w.Ext, node)
		var got api.Prefilter
		for _, p := range cliJSON[[]api.Prefilter](t, w, "prefilter", "ls", "--json") {
			if p.Prefix == world.ExtIP.String()+"/32" {
				got = p
			}
		}
		if got.Packets < 2 || got.Bytes == 0 {
			t.Fatalf("prefix counts %+v; want the two pings", got)
		}
		if n := counted(t, w, world.UplinkDev, "drop-prefilter"); n < 2 {
			t.Fatalf("drop-prefilter on the uplink: %d", n)
		}
		w.MustCLI("prefilter", "rm", world.ExtIP.String()+"/32")
		mustPing(t, w, w.Ext, node)
		mustFailCLI(t, w, "not in the prefilter", "prefilter", "rm", "192.0.2.0/24")
		mustFailCLI(t, w, "IPv4 only", "prefilter", "add", "2001:db8::/32")
	})
	t.Run("a source inside an endpoint subnet, from outside, is dropped", func(t *testing.T) {
		w.MustExec(w.Ext, "ip", "addr", "add", "10.60.0.200/32", "dev", world.ExtDev)
		defer w.MustExec(w.Ext, "ip", "addr", "del", "10.60.0.200/32", "dev", world.ExtDev)
		before := counted(t, w, world.UplinkDev, "drop-spoofed-outside")
		mustNotPing(t, w, w.Ext, node, "-I", "10.60.0.200")
		if n := counted(t, w, world.UplinkDev, "drop-spoofed-outside"); n < before+2 {
			t.Fatalf("drop-spoofed-outside: %d before, %d after", before, n)
		}
	})
	t.Run("published ports and replies pass", func(t *testing.T) {
		l := listen(t, w, a, "80")
		if err := send(w, w.Ext, node, "8080", "through xdp"); err != nil {
			t.Fatal(err)
		}
		if got := l.received(t); got != "through xdp" {
			t.Fatalf("got %q", got)
		}
		mustPing(t, w, a, world.ExtIP.String())
	})
	t.Run("a restart keeps the program and the prefilter", func(t *testing.T) {
		w.StopDaemon()
		w.StartDaemon("--xdp", "native")
		if ps := cliJSON[[]api.Prefilter](t, w, "prefilter", "ls", "--json"); len(ps) != 1 || ps[0].Prefix != "203.0.113.0/24" {
			t.Fatalf("prefilter after a restart: %+v", ps)
		}
		if got := xdpOn(t, w); got != "driver enet_xdp_up" {
			t.Fatalf("xdp on the uplink after a restart: %q", got)
		}
	})
	t.Run("--xdp off takes it off; a reset too", func(t *testing.T) {
		w.StopDaemon()
		w.StartDaemon("--xdp", "off")
		if got := xdpOn(t, w); got != "" {
			t.Fatalf("xdp on the uplink with --xdp off: %q", got)
		}
		if st := status(t, w); st.XDP.Mode != "off" {
			t.Fatalf("status xdp %+v", st.XDP)
		}
		w.StopDaemon()
		w.StartDaemon("--xdp", "generic")
		if st := status(t, w); st.XDP.Mode != "generic" || xdpOn(t, w) != "generic enet_xdp_up" {
			t.Fatalf("status xdp %+v, uplink %q; want generic", st.XDP, xdpOn(t, w))
		}
		w.MustCLI("system", "reset")
		if got := xdpOn(t, w); got != "" {
			t.Fatalf("xdp on the uplink after a reset: %q", got)
		}
	})
}

// xdpOn is the XDP program on the node's uplink, as bpftool shows it:
// "driver NAME" or "generic NAME"; "" for none.
func xdpOn(t *testing.T, w *world.World) string {
	t.Helper()
	out := w.MustExec(w.Node, "bpftool", "net", "show", "dev", world.UplinkDev)
	m := regexp.MustCompile(`(driver|generic) id (\d+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	prog := w.MustExec(w.Node, "bpftool", "prog", "show", "id", m[2])
	name := regexp.MustCompile(`name (\S+)`).FindStringSubmatch(prog)
	if name == nil {
		t.Fatalf("bpftool prog show id %s: %s", m[2], prog)
	}
	return m[1] + " " + name[1]
}

// Issue 14: a prefix added while its source floods the node drops the
// flood from then on, without reattaching, while connections to a
// published port from another source all succeed.
func TestXDPPrefixUnderFlood(t *testing.T) {
	w := newWorld(t, "--xdp", "native")
	w.MustCLI("network", "create", "web", "--subnet", "10.61.0.0/24")
	a := w.Name("a")
	w.MustCLI("endpoint", "create", a, "--network", "web", "-p", "8080:80")
	srv := w.Cmd(a, "socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	w.MustExec(w.Ext, "ip", "addr", "add", "203.0.113.7/32", "dev", world.ExtDev)
	// UDP from 203.0.113.7 to the node as fast as one Python process
	// sends, for 6 s.
	flood := w.Cmd(w.Ext, "python3", "-c", `import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("203.0.113.7", 0))
end, n = time.time() + 6, 0
while time.time() < end:
    s.sendto(b"x" * 64, ("`+world.NodeIP.String()+`", 9))
    n += 1
print(n)`)
	var sent strings.Builder
	flood.Stdout = &sent
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	w.MustCLI("prefilter", "add", "203.0.113.0/24")
	failed := 0
	for i := 0; i < 40; i++ {
		if err := send(w, w.Ext, world.NodeIP.String(), "8080", ""); err != nil {
			failed++
		}
	}
	if err := flood.Wait(); err != nil {
		t.Fatal(err)
	}
	if failed > 0 {
		t.Errorf("%d of 40 connections to the published port failed during the flood", failed)
	}
	ps := cliJSON[[]api.Prefilter](t, w, "prefilter", "ls", "--json")
	dropped := counted(t, w, world.UplinkDev, "drop-prefilter")
	t.Logf("the flood sent %s datagrams; the prefix, added 1 s in, dropped %d", strings.TrimSpace(sent.String()), dropped)
	if len(ps) != 1 || ps[0].Packets < 1000 || dropped != ps[0].Packets {
		t.Fatalf("prefilter %+v, drop-prefilter %d: want the flood's datagrams after the first second, counted on both", ps, dropped)
	}
}
