package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestFramesBetweenEndpoints (issue 19, point 10): frames other than IPv4
// between endpoints of one network get there as through any bridge:
// EtherType 0x88b5 and VLAN-tagged frames, the tag kept. One whose source
// MAC is not the sender's does not, nor one to another endpoint of a
// network with icc off.
func TestFramesBetweenEndpoints(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.25.0.0/24")
	w.MustCLI("network", "create", "quiet", "--subnet", "10.26.0.0/24", "--opt", "icc=false")
	a, b, c, d := w.Name("a"), w.Name("b"), w.Name("c"), w.Name("d")
	for ep, n := range map[string]string{a: "web", b: "web", c: "quiet", d: "quiet"} {
		newEndpoint(t, w, ep, n)
	}
	mac := func(ep string) string { return inspectEndpoint(t, w, ep).Interfaces[0].MAC }
	aMAC, bMAC, dMAC := mac(a), mac(b), mac(d)
	atB, atD := startProbe(t, w, b, "l2recv", "eth0", "ebpfnet-l2"), startProbe(t, w, d, "l2recv", "eth0", "ebpfnet-l2")
	send := func(from, dst, src, typ, vlan, marker string) {
		t.Helper()
		mustProbe(t, w, from, "l2send", "eth0", dst, src, typ, vlan, marker)
	}
	// arrived waits for the frames that carry marker.
	arrived := func(at *collector, marker string) []string {
		t.Helper()
		var got []string
		world.Wait(3*time.Second, func() bool {
			got = slices.DeleteFunc(at.lines(), func(l string) bool { return !strings.HasSuffix(l, " "+marker) })
			return len(got) >= 3
		})
		return got
	}
	t.Run("ethertype 0x88b5", func(t *testing.T) {
		send(a, bMAC, "-", "0x88b5", "0", "ebpfnet-l2-local")
		want := fmt.Sprintf("frame %s 0x88b5 vlan 0 ebpfnet-l2-local", aMAC)
		if got := arrived(atB, "ebpfnet-l2-local"); len(got) != 3 || got[0] != want {
			t.Fatalf("b got %q, want three of %q", got, want)
		}
	})
	t.Run("VLAN 100", func(t *testing.T) {
		send(a, bMAC, "-", "0x0800", "100", "ebpfnet-l2-vlan")
		want := fmt.Sprintf("frame %s 0x0800 vlan 100 ebpfnet-l2-vlan", aMAC)
		if got := arrived(atB, "ebpfnet-l2-vlan"); len(got) != 3 || got[0] != want {
			t.Fatalf("b got %q, want three of %q", got, want)
		}
	})
	t.Run("another source MAC", func(t *testing.T) {
		grows(t, w, a, "drop-spoofed-mac", func() {
			send(a, bMAC, "02:42:de:ad:be:ef", "0x88b5", "0", "ebpfnet-l2-spoofed")
			send(a, bMAC, "02:42:de:ad:be:ef", "0x88b5", "100", "ebpfnet-l2-spoofed")
		})
		// Frames of one sender arrive in order: once a later one is in,
		// the spoofed ones would have been too.
		send(a, bMAC, "-", "0x88b5", "0", "ebpfnet-l2-after")
		arrived(atB, "ebpfnet-l2-after")
		if got := at(atB, "ebpfnet-l2-spoofed"); len(got) != 0 {
			t.Fatalf("b got spoofed frames: %q", got)
		}
	})
	t.Run("icc off", func(t *testing.T) {
		grows(t, w, c, "drop-icc", func() {
			send(c, dMAC, "-", "0x88b5", "0", "ebpfnet-l2-quiet")
			send(c, dMAC, "-", "0x0800", "100", "ebpfnet-l2-quiet")
		})
		if got := at(atD, "ebpfnet-l2-quiet"); len(got) != 0 {
			t.Fatalf("d got frames of c across icc=false: %q", got)
		}
	})
}

// at is what a collector has of the frames that carry marker, now.
func at(c *collector, marker string) []string {
	return slices.DeleteFunc(c.lines(), func(l string) bool { return !strings.HasSuffix(l, " "+marker) })
}

// TestRogueRouterAdvertisement: an endpoint's IPv6 goes to the bridge with
// its other frames, but the node takes none of it: a router advertisement
// from an endpoint gives the node no IPv6 route or address
// (CVE-2020-13401).
func TestRogueRouterAdvertisement(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.27.0.0/24", "--bridge", "enet-ra")
	a := w.Name("a")
	newEndpoint(t, w, a, "web")
	grows(t, w, a, "to-bridge", func() { mustProbe(t, w, a, "ra", "eth0") })
	time.Sleep(200 * time.Millisecond) // the node would take it at once
	for _, argv := range [][]string{{"ip", "-6", "route", "show"}, {"ip", "-6", "addr", "show", "dev", "enet-ra"}} {
		if out := w.MustExec(w.Node, argv...); strings.Contains(out, "2001:db8:bad") || strings.Contains(out, "fe80::bad") {
			t.Fatalf("the node took the endpoint's router advertisement: %s:\n%s", strings.Join(argv, " "), out)
		}
	}
	if v := strings.TrimSpace(w.MustExec(w.Node, "sysctl", "-n", "net.ipv6.conf.enet-ra.disable_ipv6")); v != "1" {
		t.Fatalf("IPv6 on the bridge: disable_ipv6 is %s, want 1", v)
	}
}
