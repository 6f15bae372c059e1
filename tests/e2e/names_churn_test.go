package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 13: a change shows in the very next query, with no window of
// stale answers (moby#30487): endpoints created and removed, connected
// and disconnected, and re-aliased, in a loop, each checked at once.
func TestNamesChurn(t *testing.T) {
	w, _ := namesWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("network", "create", "side", "--subnet", "10.13.0.0/24")
	w.MustCLI("endpoint", "create", w.Name("client"), "--network", "web")
	w.MustCLI("endpoint", "create", w.Name("pinned"), "--network", "web", "--alias", "svc")
	pinned := epIP(t, w, "pinned", "web")
	for i := range 10 {
		// Even rounds ask as glibc does, answered by enet_from_ep; odd
		// ones with EDNS0, as dig does, answered by the resolver.
		q := "+edns"
		if i%2 == 0 {
			q = "+noedns"
		}
		name := w.Name("c" + strconv.Itoa(i))
		w.MustCLI("endpoint", "create", name, "--network", "side", "--alias", "svc")
		if got := digStatus(t, w, "client", q, name); got != "NXDOMAIN" {
			t.Fatalf("round %d: %s, on side only, resolves from web: %s", i, name, got)
		}
		w.MustCLI("network", "connect", "web", name, "--alias", "svc")
		ip := epIP(t, w, "c"+strconv.Itoa(i), "web")
		if got := digShort(t, w, "client", q, name); !slices.Equal(got, []string{ip}) {
			t.Fatalf("round %d: right after connect, %s is %v, want %s", i, name, got, ip)
		}
		if got := digShort(t, w, "client", q, "svc"); !sameSet(got, []string{pinned, ip}) {
			t.Fatalf("round %d: right after connect, svc is %v, want %s and %s", i, got, pinned, ip)
		}
		w.MustCLI("network", "alias", "web", name, "other-svc")
		if got := digShort(t, w, "client", q, "svc"); !slices.Equal(got, []string{pinned}) {
			t.Fatalf("round %d: right after the re-alias, svc is %v, want only %s", i, got, pinned)
		}
		if got := digShort(t, w, "client", q, "other-svc"); !slices.Equal(got, []string{ip}) {
			t.Fatalf("round %d: right after the re-alias, other-svc is %v, want %s", i, got, ip)
		}
		w.MustCLI("network", "disconnect", "web", name)
		if got := digStatus(t, w, "client", q, name); got != "NXDOMAIN" {
			t.Fatalf("round %d: right after disconnect, %s: %s, want NXDOMAIN", i, name, got)
		}
		w.MustCLI("endpoint", "rm", name)
		if _, err := os.Stat(filepath.Join("/etc/netns", name)); !os.IsNotExist(err) {
			t.Fatalf("round %d: /etc/netns/%s is still there: %v", i, name, err)
		}
	}
}

// Issue 13: the records come from the store, and a restarted daemon
// answers again after a short gap, measured here; the endpoints'
// resolv.conf carries --dns-search and --dns-option, and goes with
// the endpoint, or with system reset.
func TestNamesRestart(t *testing.T) {
	w, _ := namesWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.10.0.0/24")
	w.MustCLI("endpoint", "create", w.Name("client"), "--network", "web",
		"--dns-search", "corp.example", "--dns-option", "ndots:2", "--dns-option", "timeout:1")
	w.MustCLI("endpoint", "create", w.Name("api"), "--network", "web", "--alias", "backend")
	api := epIP(t, w, "api", "web")
	raw, err := os.ReadFile(filepath.Join("/etc/netns", w.Name("client"), "resolv.conf"))
	if err != nil || !strings.Contains(string(raw), "search corp.example\noptions ndots:2 timeout:1\n") {
		t.Fatalf("client's resolv.conf: %v\n%s", err, raw)
	}

	// A client asks all along, while the daemon stops and starts.
	done := make(chan time.Duration)
	stop := make(chan struct{})
	go func() { done <- longestGap(w, "client", "backend", api, stop) }()
	time.Sleep(300 * time.Millisecond)
	w.MustCLI("daemon", "stop")
	// With no daemon, the datapath still answers what it holds.
	if out, err := w.NetnsExec(w.Name("client"), "dig", "+time=1", "+tries=1", "+short", "+noedns", "backend"); err != nil ||
		strings.TrimSpace(out) != api {
		t.Errorf("with the daemon stopped, a plain query for backend: %v %q, want %s from the datapath", err, out, api)
	}
	w.StartDaemon("--dns", upstreamIP.String())
	time.Sleep(time.Second)
	close(stop)
	gap := <-done
	if gap < 0 {
		t.Fatal("the restarted daemon does not answer backend")
	}
	t.Logf("names' gap across a daemon restart: %v without an answer", gap.Round(time.Millisecond))

	w.MustCLI("system", "reset")
	for _, ep := range []string{"client", "api"} {
		if _, err := os.Stat(filepath.Join("/etc/netns", w.Name(ep))); !os.IsNotExist(err) {
			t.Fatalf("after system reset, /etc/netns/%s: %v", w.Name(ep), err)
		}
	}
}

// longestGap asks an endpoint's resolver for name every 20 ms until stop,
// and returns the longest time between two right answers; -1 if the
// last query was not answered right.
func longestGap(w *world.World, ep, name, want string, stop <-chan struct{}) time.Duration {
	last, longest, ok := time.Now(), time.Duration(0), false
	for {
		select {
		case <-stop:
			if !ok {
				return -1
			}
			return longest
		case <-time.After(20 * time.Millisecond):
		}
		out, err := w.NetnsExec(w.Name(ep), "dig", "+time=1", "+tries=1", "+short", name)
		ok = err == nil && strings.TrimSpace(out) == want
		if ok {
			longest = max(longest, time.Since(last))
			last = time.Now()
		}
	}
}
