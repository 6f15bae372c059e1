package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 13: names the networks do not hold are forwarded: to the
// endpoint's own --dns servers if it has them, else the daemon's; a slow
// upstream is waited for, one that is down gives SERVFAIL, and an
// endpoint on internal networks only is not forwarded at all.
func TestNamesUpstreams(t *testing.T) {
	w, up := namesWorld(t)
	w.MustExec(w.Ext, "ip", "addr", "add", upstreamIP2.String()+"/24", "dev", world.ExtDev)
	own := world.StartUpstream(t, w.Ext, netip.AddrPortFrom(upstreamIP2, 53), "fwd.test", fwdAnswer2)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "closed", "--subnet", "10.12.0.0/24", "--internal")
	w.MustCLI("endpoint", "create", w.Name("client"), "--network", "web")
	w.MustCLI("endpoint", "create", w.Name("picky"), "--network", "web", "--dns", upstreamIP2.String())
	w.MustCLI("endpoint", "create", w.Name("shut"), "--network", "closed", "--alias", "vault")

	t.Run("the endpoint's own --dns", func(t *testing.T) {
		before := up.Queries()
		if got := digShort(t, w, "picky", "a.fwd.test"); !slices.Equal(got, []string{fwdAnswer2.String()}) {
			t.Fatalf("a.fwd.test from picky is %v, want its own upstream's %s", got, fwdAnswer2)
		}
		if up.Queries() != before || own.Queries() == 0 {
			t.Fatalf("the daemon's upstream got %d queries, picky's %d: want picky's only", up.Queries()-before, own.Queries())
		}
	})
	t.Run("a slow upstream is waited for", func(t *testing.T) {
		up.SetDelay(time.Second)
		defer up.SetDelay(0)
		if got := digShort(t, w, "client", "slow.fwd.test"); !slices.Equal(got, []string{fwdAnswer.String()}) {
			t.Fatalf("slow.fwd.test is %v, want %s after a second", got, fwdAnswer)
		}
	})
	t.Run("internal networks only: names, and nothing forwarded", func(t *testing.T) {
		if got := digShort(t, w, "shut", "vault"); !slices.Equal(got, []string{epIP(t, w, "shut", "closed")}) {
			t.Fatalf("vault from shut is %v", got)
		}
		before := up.Queries()
		if got := digStatus(t, w, "shut", "a.fwd.test"); got != "SERVFAIL" {
			t.Fatalf("a.fwd.test from an internal network: %s, want SERVFAIL", got)
		}
		if up.Queries() != before {
			t.Fatal("a query from an internal network went upstream")
		}
	})
	t.Run("ANY is answered for local names only", func(t *testing.T) {
		if got := digShort(t, w, "client", "ANY", w.Name("picky")); !slices.Equal(got, []string{epIP(t, w, "picky", "web")}) {
			t.Fatalf("ANY picky is %v", got)
		}
		before := up.Queries()
		if got := digStatus(t, w, "client", "ANY", "fwd.test"); got != "NOTIMP" {
			t.Fatalf("ANY fwd.test: %s, want NOTIMP", got)
		}
		if up.Queries() != before {
			t.Fatal("ANY went upstream")
		}
	})
	t.Run("an upstream that is down: SERVFAIL", func(t *testing.T) {
		up.Stop()
		start := time.Now()
		if got := digStatus(t, w, "client", "+time=8", "down.fwd.test"); got != "SERVFAIL" {
			t.Fatalf("with the upstream down: %s, want SERVFAIL", got)
		}
		t.Logf("SERVFAIL after %v", time.Since(start).Round(time.Millisecond))
		if n := dnsCount(t, w, "servfail"); n < 2 {
			t.Fatalf("servfail counter is %d, want 2 (internal, down)", n)
		}
		if got := digShort(t, w, "client", w.Name("picky")); len(got) != 1 {
			t.Fatalf("local names with the upstream down: %v", got)
		}
	})
}

// Issue 13: the resolver never answers a source that is no endpoint of
// its network (ext, the node, an endpoint of another network), answers
// or drops bad queries without falling over, and counts them all; an
// answer larger than UDP takes is truncated, and whole over TCP.
func TestNamesBadQueries(t *testing.T) {
	w, _ := namesWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "other", "--subnet", "10.11.0.0/24")
	w.MustCLI("endpoint", "create", w.Name("client"), "--network", "web")
	w.MustCLI("endpoint", "create", w.Name("stranger"), "--network", "other")
	w.MustExec(w.Ext, "ip", "route", "add", "10.10.0.0/24", "via", world.NodeIP.String())

	t.Run("sources outside the network are not answered", func(t *testing.T) {
		before := dnsCount(t, w, "outside-source")
		for _, ns := range []string{w.Ext, w.Node, w.Name("stranger")} {
			out, err := w.Exec(ns, "dig", "+time=1", "+tries=1", "-p", "10053", "@10.10.0.1", w.Name("client"))
			if err == nil || !strings.Contains(out, "timed out") {
				t.Fatalf("from %s, web's resolver answered: %v\n%s", ns, err, out)
			}
		}
		if n := dnsCount(t, w, "outside-source") - before; n < 3 {
			t.Fatalf("outside-source grew by %d, want 3", n)
		}
	})
	t.Run("malformed, huge and many-question queries", func(t *testing.T) {
		before := dnsCount(t, w, "malformed")
		// Garbage; a header claiming two questions; a name of 300 bytes
		// in labels of 60.
		label := "\\x3c" + strings.Repeat("a", 60)
		py := `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for p in [b"\xff\x00garbage", b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00",
          b"\x12\x35\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"` + strings.Repeat(label, 5) + `" + b"\x00\x00\x01\x00\x01"]:
    s.sendto(p, ("127.0.0.11", 53))
    try:
        print(s.recv(2048)[:4].hex())
    except socket.timeout:
        print("none")
`
		out, err := w.NetnsExec(w.Name("client"), "python3", "-c", py)
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		t.Logf("answers (id and flags, or none): %s", strings.Join(strings.Fields(out), " "))
		if n := dnsCount(t, w, "malformed") - before; n < 3 {
			t.Fatalf("malformed grew by %d, want 3", n)
		}
		if got := digShort(t, w, "client", w.Name("client")); len(got) != 1 {
			t.Fatalf("the resolver does not answer after the bad queries: %v", got)
		}
	})
	t.Run("truncated over UDP, whole over TCP", func(t *testing.T) {
		for i := range 40 {
			w.MustCLI("endpoint", "create", w.Name("m"+strconv.Itoa(i)), "--network", "web", "--alias", "many")
		}
		out := dig(t, w, "client", "+noedns", "+ignore", "many")
		if !strings.Contains(out, " tc") {
			t.Fatalf("40 addresses over UDP without EDNS0 are not truncated:\n%s", out)
		}
		if got := digShort(t, w, "client", "+noedns", "many"); len(got) != 40 {
			t.Fatalf("dig retrying over TCP got %d addresses, want 40", len(got))
		}
		if got := digShort(t, w, "client", "+bufsize=1232", "many"); len(got) != 40 {
			t.Fatalf("with EDNS0 1232, %d addresses, want 40", len(got))
		}
		if dnsCount(t, w, "truncated") == 0 {
			t.Fatal("truncated is not counted")
		}
	})
}

// Issue 13: without --dns the daemon forwards to the node's resolv.conf
// (--resolv-conf here), and follows it when it changes, as Docker
// follows the host's.
func TestNamesFollowResolvConf(t *testing.T) {
	w := world.New(t, bin)
	w.MustExec(w.Ext, "ip", "addr", "add", upstreamIP2.String()+"/24", "dev", world.ExtDev)
	world.StartUpstream(t, w.Ext, netip.AddrPortFrom(upstreamIP, 53), "fwd.test", fwdAnswer)
	world.StartUpstream(t, w.Ext, netip.AddrPortFrom(upstreamIP2, 53), "fwd.test", fwdAnswer2)
	conf := filepath.Join(w.Dir, "resolv.conf")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(conf+".new", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(conf+".new", conf); err != nil {
			t.Fatal(err)
		}
	}
	write("nameserver 127.0.0.53\nnameserver " + upstreamIP.String() + "\n")
	w.StartDaemon("--resolv-conf", conf)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("endpoint", "create", w.Name("client"), "--network", "web")
	if got := digShort(t, w, "client", "a.fwd.test"); !slices.Equal(got, []string{fwdAnswer.String()}) {
		t.Fatalf("a.fwd.test is %v, want %s from the upstream resolv.conf names (the loopback one left out)", got, fwdAnswer)
	}
	write("nameserver " + upstreamIP2.String() + "\n")
	ok := world.Wait(10*time.Second, func() bool {
		out, err := w.NetnsExec(w.Name("client"), "dig", "+time=1", "+tries=1", "+short", "b.fwd.test")
		return err == nil && strings.TrimSpace(out) == fwdAnswer2.String()
	})
	if !ok {
		t.Fatal("the daemon did not follow its resolv.conf to the other upstream")
	}
	if ups := cliJSON[api.DNSStatus](t, w, "dns", "stats", "--json").Upstreams; !slices.Equal(ups, []string{upstreamIP2.String() + ":53"}) {
		t.Fatalf("dns stats shows upstreams %v", ups)
	}
}
