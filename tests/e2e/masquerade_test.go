package e2e

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// extServer is where the tests' servers in ext listen.
var extServer = netip.AddrPortFrom(world.ExtIP, 7000)

// TestMasquerade: an endpoint reaches ext over TCP, UDP and ICMP echo, ext
// sees the node's uplink address, the replies come back, the datapath's
// maps show the flows, and netfilter is never involved.
func TestMasquerade(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	noNetfilter(t, w, "before the daemon")
	w.StartDaemon()
	w.MustCLI("network", "create", "web", "--subnet", "10.20.0.0/24")
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "web")
	srv := startServer(t, w.Ext, extServer)
	echo := watchEchoRequests(t, w)

	tcp := mustDialTCP(t, a, fromPort(5201), srv.Addr)
	if tcp.Seen.Addr() != world.NodeIP {
		t.Fatalf("ext saw the tcp connection from %s, want %s", tcp.Seen, world.NodeIP)
	}
	udpSeen, err := askUDP(a, fromPort(5202), srv.Addr)
	if err != nil || udpSeen.Addr() != world.NodeIP {
		t.Fatalf("ext saw the udp datagram from %s, want %s: %v", udpSeen, world.NodeIP, err)
	}
	echoSeen := echo.ping(t, a, 5203, world.ExtIP)
	if echoSeen.Addr() != world.NodeIP {
		t.Fatalf("ext saw the echo request from %s, want %s", echoSeen.Addr(), world.NodeIP)
	}
	noNetfilter(t, w, "with flows open", aIP, world.ExtIP)

	flows := []struct {
		proto          string
		src, dst, masq netip.AddrPort
		state          string
	}{
		{"tcp", netip.AddrPortFrom(aIP, 5201), srv.Addr, tcp.Seen, "ESTABLISHED"},
		{"udp", netip.AddrPortFrom(aIP, 5202), srv.Addr, udpSeen, "replied"},
		{"icmp", netip.AddrPortFrom(aIP, 5203), netip.AddrPortFrom(world.ExtIP, 0), echoSeen, "replied"},
	}
	for _, f := range flows {
		checkFlow(t, w, a, f.proto, f.src, f.dst, f.masq, f.state)
		checkNAT(t, w, f.proto, f.src, f.dst, f.masq, f.state)
	}
	for _, table := range [][]string{{"bpf", "ct"}, {"bpf", "nat"}} {
		if out := w.MustCLI(table...); !strings.Contains(out, tcp.Seen.String()) || !strings.Contains(out, "ESTABLISHED") {
			t.Fatalf("ebpfnet %s does not show %s established:\n%s", strings.Join(table, " "), tcp.Seen, out)
		}
	}
	// tcp, udp and the echo: a flow each, two translations each; only
	// the tcp connection is assured, in enet_ct and enet_nat.
	if ct, nat := mapEntries(t, w, "enet_ct"), mapEntries(t, w, "enet_nat"); ct != 1 || nat != 2 {
		t.Fatalf("ebpfnet status: enet_ct %d, enet_nat %d entries; want 1 and 2", ct, nat)
	}
	if ct, nat := flowEntries(t, w); ct != 3 || nat != 6 {
		t.Fatalf("ebpfnet status: enet_ct and enet_ct_new %d, enet_nat and enet_nat_new %d entries; want 3 and 6", ct, nat)
	}
	if out := w.MustCLI("status"); !strings.Contains(out, "enet_ct") || !strings.Contains(out, "enet_nat") {
		t.Fatalf("ebpfnet status does not show enet_ct and enet_nat:\n%s", out)
	}
	if counted(t, w, a, "forward-masquerade") == 0 || counted(t, w, world.UplinkDev, "forward-reply") == 0 {
		t.Fatalf("no forward-masquerade counted for %s or no forward-reply for %s:\n%s", a, world.UplinkDev, w.MustCLI("bpf", "stats"))
	}
	tcp.mustSend(t, 1000)

	w.StopDaemon()
	noNetfilter(t, w, "after the daemon stopped", aIP, world.ExtIP)
	w.MustCLI(append([]string{"system", "reset"}, w.DaemonArgs()...)...)
	noNetfilter(t, w, "after system reset", aIP, world.ExtIP)
}

// checkFlow asserts what `ebpfnet bpf ct --json` says of a masqueraded
// flow: its tuples both ways, state, time left and counters.
func checkFlow(t *testing.T, w *world.World, endpoint, proto string, src, dst, masq netip.AddrPort, state string) {
	t.Helper()
	f, ok := findFlow(t, w, proto, src, dst)
	switch {
	case !ok:
		t.Fatalf("ebpfnet bpf ct shows no %s flow %s -> %s", proto, src, dst)
	case f.ReplySrc != dst.String() || f.ReplyDst != masq.String():
		t.Fatalf("flow %s -> %s: reply %s -> %s, want %s -> %s", src, dst, f.ReplySrc, f.ReplyDst, dst, masq)
	case f.State != state || f.Endpoint != endpoint || !slices.Contains(f.Flags, "snat"):
		t.Fatalf("flow %s -> %s: state %q endpoint %q flags %v, want %q %q snat", src, dst, f.State, f.Endpoint, f.Flags, state, endpoint)
	case f.TTLSeconds <= 0 || f.PacketsOrig == 0 || f.PacketsReply == 0 || f.BytesOrig == 0 || f.BytesReply == 0:
		t.Fatalf("flow %s -> %s: ttl %.1fs, packets %d/%d, bytes %d/%d", src, dst,
			f.TTLSeconds, f.PacketsOrig, f.PacketsReply, f.BytesOrig, f.BytesReply)
	}
}

// checkNAT asserts what `ebpfnet bpf nat --json` says of a masqueraded
// flow's two translations: the tuples, and its flow's state, time left and
// the packets each translated.
func checkNAT(t *testing.T, w *world.World, proto string, src, dst, masq netip.AddrPort, state string) {
	t.Helper()
	want := []api.BPFNAT{
		{Proto: proto, FromSrc: src.String(), FromDst: dst.String(), ToSrc: masq.String(), ToDst: dst.String(), Direction: "original"},
		{Proto: proto, FromSrc: dst.String(), FromDst: masq.String(), ToSrc: dst.String(), ToDst: src.String(), Direction: "reply"},
	}
	got := cliJSON[[]api.BPFNAT](t, w, "bpf", "nat", "--json")
	for _, e := range want {
		i := slices.IndexFunc(got, func(g api.BPFNAT) bool {
			return g.Proto == e.Proto && g.FromSrc == e.FromSrc && g.FromDst == e.FromDst && g.ToSrc == e.ToSrc &&
				g.ToDst == e.ToDst && g.Direction == e.Direction && !g.Host
		})
		if i < 0 {
			t.Fatalf("ebpfnet bpf nat lacks %+v:\n%+v", e, got)
		}
		if g := got[i]; g.State != state || g.TTLSeconds <= 0 || g.Packets == 0 || g.Bytes < g.Packets*20 {
			t.Fatalf("ebpfnet bpf nat: %s %s -> %s: state %q, ttl %.1fs, %d packets, %d bytes; want %q, time left, packets of 20 bytes or more",
				e.Direction, e.FromSrc, e.FromDst, g.State, g.TTLSeconds, g.Packets, g.Bytes, state)
		}
	}
}

// TestConntrackTimeouts: each state has netfilter's timeout, or the one
// --ct-timeout sets, and the GC removes a flow from both maps once it has
// expired.
func TestConntrackTimeouts(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "--gc-interval", "1s", "--ct-timeout", "tcp-time-wait=5s", "--ct-timeout", "udp=40")
	w.MustCLI("network", "create", "web", "--subnet", "10.21.0.0/24")
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "web")
	srv := startServer(t, w.Ext, extServer)

	// A datagram to a port where nothing listens: the answer is an ICMP
	// error, no reply, so the flow stays unreplied.
	quiet := netip.AddrPortFrom(world.ExtIP, 7009)
	if c, err := dialUDP(a, fromPort(5301), quiet); err != nil {
		t.Fatal(err)
	} else {
		_, _ = c.Write([]byte("?"))
		c.Close()
	}
	if _, err := askUDP(a, fromPort(5302), srv.Addr); err != nil {
		t.Fatal(err)
	}
	tcp := mustDialTCP(t, a, fromPort(5303), srv.Addr)
	tcpSrc := netip.AddrPortFrom(aIP, 5303)
	cases := []struct {
		name     string
		proto    string
		src, dst netip.AddrPort
		ttl      float64
	}{
		{"udp unreplied", "udp", netip.AddrPortFrom(aIP, 5301), quiet, 40},
		// One exchange is not a stream, as netfilter has it.
		{"udp replied", "udp", netip.AddrPortFrom(aIP, 5302), srv.Addr, 40},
		{"tcp established", "tcp", tcpSrc, srv.Addr, 5 * 24 * 3600},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, ok := findFlow(t, w, c.proto, c.src, c.dst)
			if !ok || f.TTLSeconds > c.ttl || f.TTLSeconds < c.ttl-10 {
				t.Fatalf("flow %s -> %s: found %v, ttl %.1fs, want %.0fs or a little less", c.src, c.dst, ok, f.TTLSeconds, c.ttl)
			}
		})
	}

	tcp.mustSend(t, 100)
	tcp.conn.Close()
	closed := func() bool {
		f, ok := findFlow(t, w, "tcp", tcpSrc, srv.Addr)
		return ok && f.State == "TIME_WAIT" && f.TTLSeconds <= 5
	}
	if !world.Wait(2*time.Second, closed) {
		t.Fatalf("the closed tcp flow is not in TIME_WAIT with 5s left:\n%s", w.MustCLI("bpf", "ct"))
	}
	ct, nat := flowEntries(t, w)
	gone := func() bool {
		c, n := flowEntries(t, w)
		return c == ct-1 && n == nat-2
	}
	// 5s TIME_WAIT, the GC's second of grace, its 1s interval, and room.
	if !world.Wait(15*time.Second, gone) {
		c, n := flowEntries(t, w)
		t.Fatalf("the GC left the expired tcp flow: %d flows, %d translations, were %d and %d", c, n, ct, nat)
	}
	if _, ok := findFlow(t, w, "tcp", tcpSrc, srv.Addr); ok {
		t.Fatal("ebpfnet bpf ct still shows the removed tcp flow")
	}
}

// TestBPFNATLive: `ebpfnet bpf nat` lists live translations only. A
// closed TCP flow's two are listed in TIME_WAIT until the flow expires,
// and then no more, though enet_nat_new holds them until the GC (here an
// hour away) comes by.
func TestBPFNATLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "--gc-interval", "1h", "--ct-timeout", "tcp-time-wait=5s")
	w.MustCLI("network", "create", "web", "--subnet", "10.22.0.0/24")
	a := w.Name("a")
	aIP := newEndpoint(t, w, a, "web")
	srv := startServer(t, w.Ext, extServer)
	tcp := mustDialTCP(t, a, fromPort(5401), srv.Addr)
	tcp.mustSend(t, 100)
	tcp.conn.Close()
	src := netip.AddrPortFrom(aIP, 5401).String()
	listed := func(state string) int {
		n := 0
		for _, e := range cliJSON[[]api.BPFNAT](t, w, "bpf", "nat", "--json") {
			if (e.FromSrc == src || e.ToDst == src) && (state == "" || e.State == state) {
				n++
			}
		}
		return n
	}
	if !world.Wait(5*time.Second, func() bool { return listed("TIME_WAIT") == 2 }) {
		t.Fatalf("ebpfnet bpf nat does not list the closed flow's two translations in TIME_WAIT:\n%s", w.MustCLI("bpf", "nat"))
	}
	held := mapEntries(t, w, "enet_nat_new")
	// 5s TIME_WAIT, and room.
	if !world.Wait(15*time.Second, func() bool { return listed("") == 0 }) {
		t.Fatalf("ebpfnet bpf nat still lists the expired flow's translations:\n%s", w.MustCLI("bpf", "nat"))
	}
	if n := mapEntries(t, w, "enet_nat_new"); n != held || n < 2 {
		t.Fatalf("enet_nat_new holds %d entries, held %d: the expired flow's should still be there", n, held)
	}
}
