package ports

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

var lo = netip.MustParseAddr("127.0.0.1")

func specs(t *testing.T, ss ...string) []portspec.Spec {
	t.Helper()
	out, err := ParseSpecs(ss)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlan: a planned publication holds its host port until released, a
// taken one is refused with its kind, and a range takes the first port
// nothing holds.
func TestPlan(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := uint16(l.Addr().(*net.TCPAddr).Port)
	defer l.Close()

	pubs, err := Plan("api", specs(t, "127.0.0.1::80"), nil)
	if err != nil || len(pubs) != 1 || pubs[0].Port.HostPort == 0 || pubs[0].Port.Endpoint != "api" {
		t.Fatalf("planned %+v, %v", pubs, err)
	}
	got := pubs[0].Port.HostPort
	if _, _, err := Reserve("tcp", lo, got); errdefs.KindOf(err) != errdefs.KindConflict {
		t.Fatalf("port %d is not held while planned: %v", got, err)
	}
	Release(pubs)
	res, _, err := Reserve("tcp", lo, got)
	if err != nil {
		t.Fatalf("port %d still held after release: %v", got, err)
	}
	_ = res.Close()

	taken := []store.Port{{Proto: "tcp", HostPort: got, Endpoint: "web", CPort: 80}}
	if _, err := Plan("api", specs(t, "127.0.0.1:"+itoa(got)+":80"), taken); errdefs.KindOf(err) != errdefs.KindConflict ||
		err.Error() != "Bind for 127.0.0.1:"+itoa(got)+" failed: port is already allocated (endpoint \"web\" publishes "+itoa(got)+"/tcp)" {
		t.Fatalf("a published port: %v", err)
	}
	if _, err := Plan("api", specs(t, "127.0.0.1:"+itoa(busy)+":80"), nil); errdefs.KindOf(err) != errdefs.KindConflict ||
		!strings.Contains(err.Error(), "in use by a socket") {
		t.Fatalf("a port a socket holds: %v", err)
	}
	pubs, err = Plan("api", specs(t, "127.0.0.1:"+itoa(busy)+"-"+itoa(busy+1)+":80"), nil)
	if err == nil {
		defer Release(pubs)
	}
	if err != nil || pubs[0].Port.HostPort != busy+1 {
		t.Fatalf("a range whose first port is held: %+v, %v", pubs, err)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestTarget(t *testing.T) {
	ep := &store.Endpoint{Interfaces: []store.Interface{
		{Network: "web", IP: netip.MustParseAddr("10.0.0.2"), HostName: "enet-a"},
		{Network: "db", IP: netip.MustParseAddr("10.1.0.2"), HostName: "enet-b"}}}
	if got := Target(ep); got.String() != "10.0.0.2" {
		t.Fatalf("target %v: want the first interface's", got)
	}
	// A macvlan interface has no host side: the node cannot reach it.
	ep.Interfaces[0].HostName = ""
	if got := Target(ep); got.IsValid() {
		t.Fatalf("an endpoint whose first interface is a macvlan has target %v", got)
	}
	if got := Target(&store.Endpoint{}); got.IsValid() {
		t.Fatalf("an endpoint with no interface has target %v", got)
	}
}

// TestPlanUnheld: a port the runtime holds is published without a
// reservation, even while a socket (the runtime's) holds it; another
// publication of it is still refused, and a port with no host port is.
func TestPlanUnheld(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := itoa(uint16(l.Addr().(*net.TCPAddr).Port))
	pubs, err := PlanUnheld("api", specs(t, "127.0.0.1:"+busy+":80"), nil)
	if err != nil || len(pubs) != 1 || !pubs[0].Port.Unheld || pubs[0].res != nil {
		t.Fatalf("planned %+v, %v: want one unheld publication, no reservation", pubs, err)
	}
	taken := []store.Port{pubs[0].Port}
	if _, err := PlanUnheld("web", specs(t, "127.0.0.1:"+busy+":81"), taken); errdefs.KindOf(err) != errdefs.KindConflict {
		t.Fatalf("a port published already: %v", err)
	}
	for _, s := range []string{"80", "127.0.0.1::80", "8000-8010:80"} {
		if _, err := PlanUnheld("api", specs(t, s), nil); errdefs.KindOf(err) != errdefs.KindInvalid {
			t.Errorf("%s: %v, want refused as invalid", s, err)
		}
	}
}
