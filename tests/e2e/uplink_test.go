package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// sideDev is a second device of the node, on 192.0.2.0/24, that the
// default route may be moved to; ext stays on up0's own subnet.
const sideDev = "side0"

// TestUplink: the uplink is --uplink, else the device of the default
// route, else there is none. In a node whose default route is elsewhere
// or absent, --uplink up0 masquerades to ext through up0; without it, the
// daemon takes the default route's device, where the route to ext does not
// go, so masqueraded packets to ext are dropped as drop-no-route; and
// without a default route it has no uplink, and the kernel routes
// endpoints' packets untranslated, as it would without ebpfnet (ext routes
// the endpoint's subnet back to the node, so that shows).
func TestUplink(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		route   func(w *world.World) // the node's default route
		flags   []string
		uplink  string
		reaches func(aIP netip.Addr) netip.Addr // the source ext sees, or none
	}{
		{"default route elsewhere, --uplink up0", defaultViaSide, []string{"--uplink", world.UplinkDev},
			world.UplinkDev, func(netip.Addr) netip.Addr { return world.NodeIP }},
		{"default route elsewhere, no --uplink", defaultViaSide, nil,
			sideDev, func(netip.Addr) netip.Addr { return netip.Addr{} }},
		{"no default route, --uplink up0", noDefault, []string{"--uplink", world.UplinkDev},
			world.UplinkDev, func(netip.Addr) netip.Addr { return world.NodeIP }},
		{"no default route, no --uplink", noDefault, nil,
			"", func(aIP netip.Addr) netip.Addr { return aIP }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := world.New(t, bin)
			w.MustExec(w.Node, "ip", "link", "add", sideDev, "type", "veth", "peer", "name", "side1")
			w.MustExec(w.Node, "ip", "addr", "add", "192.0.2.1/24", "dev", sideDev)
			for _, dev := range []string{sideDev, "side1"} {
				w.MustExec(w.Node, "ip", "link", "set", dev, "up")
			}
			tc.route(w)
			w.StartDaemon(tc.flags...)
			if st := status(t, w); st.Uplink != tc.uplink {
				t.Fatalf("ebpfnet status: uplink %q, want %q", st.Uplink, tc.uplink)
			}
			if out := w.MustCLI("status"); !strings.Contains(out, "uplink:     "+orDash(tc.uplink)) {
				t.Fatalf("ebpfnet status does not show uplink %s:\n%s", orDash(tc.uplink), out)
			}
			// The defragmentation helper is the uplink's.
			if df := status(t, w).Defrag; df.On != (tc.uplink != "") || (!df.On && df.Why != "no uplink") {
				t.Errorf("ebpfnet status shows the defragmentation helper as %+v with uplink %q", df, tc.uplink)
			}
			if out := w.MustCLI("status"); tc.uplink == "" && !strings.Contains(out, "defrag:     off (no uplink)") {
				t.Errorf("ebpfnet status does not say the defragmentation helper is off:\n%s", out)
			}
			w.MustCLI("network", "create", "web", "--subnet", "10.24.0.0/24")
			w.MustExec(w.Ext, "ip", "route", "add", "10.24.0.0/24", "via", world.NodeIP.String())
			a := w.Name("a")
			aIP := newEndpoint(t, w, a, "web")
			srv := startServer(t, w.Ext, extServer)
			want := tc.reaches(aIP)
			// Long enough for a loaded machine where it must connect; where
			// it must not, the drop counter says why.
			timeout := 3 * time.Second
			if want.IsValid() {
				timeout = 10 * time.Second
			}
			c, err := dialTCP(a, fromPort(5501), srv.Addr, timeout)
			switch {
			case want.IsValid() && err != nil:
				t.Fatalf("connect to ext: %v", err)
			case want.IsValid() && c.Seen.Addr() != want:
				t.Fatalf("ext saw the connection from %s, want %s", c.Seen, want)
			case !want.IsValid() && err == nil:
				t.Fatalf("connected to ext from %s, want no way there", c.Seen)
			case !want.IsValid() && counted(t, w, a, "drop-no-route") == 0:
				t.Fatalf("no drop-no-route counted for %s:\n%s", a, w.MustCLI("bpf", "stats"))
			}
			if c != nil {
				c.conn.Close()
			}
		})
	}
}

// defaultViaSide moves the node's default route to side0.
func defaultViaSide(w *world.World) {
	w.MustExec(w.Node, "ip", "route", "replace", "default", "via", "192.0.2.254", "dev", sideDev)
}

// noDefault removes the node's default route: up0's own subnet, ext's,
// stays reachable.
func noDefault(w *world.World) { w.MustExec(w.Node, "ip", "route", "del", "default") }

// orDash is how `ebpfnet status` shows an empty field.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
