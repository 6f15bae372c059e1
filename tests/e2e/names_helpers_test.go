package e2e

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// The upstream resolvers the names tests give the daemon, in ext: the
// zone each answers and with what.
var (
	upstreamIP  = world.ExtIP
	upstreamIP2 = netip.MustParseAddr("198.51.100.3") // an endpoint's own --dns
	fwdAnswer   = netip.MustParseAddr("192.0.2.53")
	fwdAnswer2  = netip.MustParseAddr("192.0.2.54")
)

// namesWorld is a world whose daemon forwards to an upstream in ext
// serving fwd.test.
func namesWorld(t *testing.T, extra ...string) (*world.World, *world.Upstream) {
	t.Helper()
	w := world.New(t, bin)
	up := world.StartUpstream(t, w.Ext, netip.AddrPortFrom(upstreamIP, 53), "fwd.test", fwdAnswer)
	w.StartDaemon(append([]string{"--dns", upstreamIP.String()}, extra...)...)
	return w, up
}

// dig runs dig in an endpoint's namespace through `ip netns exec`, so
// with its resolv.conf (127.0.0.11), and returns its output.
func dig(t *testing.T, w *world.World, ep string, args ...string) string {
	t.Helper()
	out, err := w.NetnsExec(w.Name(ep), append([]string{"dig", "+time=2", "+tries=1"}, args...)...)
	if err != nil {
		t.Fatalf("dig %s in %s: %v\n%s", strings.Join(args, " "), ep, err, out)
	}
	return out
}

// digShort is dig +short: the answers' values, one per line.
func digShort(t *testing.T, w *world.World, ep string, args ...string) []string {
	t.Helper()
	return strings.Fields(dig(t, w, ep, append([]string{"+short"}, args...)...))
}

// digStatus is the status of dig's answer (NOERROR, NXDOMAIN, ...).
func digStatus(t *testing.T, w *world.World, ep string, args ...string) string {
	t.Helper()
	out := dig(t, w, ep, args...)
	_, rest, ok := strings.Cut(out, "status: ")
	if !ok {
		t.Fatalf("dig %s: no answer:\n%s", strings.Join(args, " "), out)
	}
	status, _, _ := strings.Cut(rest, ",")
	return status
}

// epIP is an endpoint's address on a network.
func epIP(t *testing.T, w *world.World, ep, network string) string {
	t.Helper()
	for _, i := range inspectEndpoint(t, w, w.Name(ep)).Interfaces {
		if i.Network == network {
			return i.IP
		}
	}
	t.Fatalf("endpoint %s has no interface on %s", ep, network)
	return ""
}

// sameSet says whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// dnsCount is one of the resolvers' counters.
func dnsCount(t *testing.T, w *world.World, name string) uint64 {
	t.Helper()
	return cliJSON[api.DNSStatus](t, w, "dns", "stats", "--json").Counts[name]
}
