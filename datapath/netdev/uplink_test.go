package netdev

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNewNetns runs fn on a thread in a network namespace of its own, with
// a veth "up0" (10.9.0.1/24) and, if route, a default route on it.
func inNewNetns(t *testing.T, route bool, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("test requires root")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new netns: %v", err)
			return
		}
		defer ns.Close()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "up0"
		up0 := &netlink.Veth{LinkAttrs: attrs, PeerName: "up1"}
		addr, _ := netlink.ParseAddr("10.9.0.1/24")
		if err := errors.Join(netlink.LinkAdd(up0), netlink.AddrAdd(up0, addr), netlink.LinkSetUp(up0)); err != nil {
			t.Errorf("set up up0: %v", err)
			return
		}
		if route {
			gw := &netlink.Route{LinkIndex: up0.Attrs().Index, Gw: []byte{10, 9, 0, 2}}
			if err := netlink.RouteAdd(gw); err != nil {
				t.Errorf("default route: %v", err)
				return
			}
		}
		fn()
	}()
	<-done
}

func TestFindUplink(t *testing.T) {
	var nl Netlink
	inNewNetns(t, true, func() {
		up, err := nl.FindUplink("")
		if err != nil || up == nil || up.Name != "up0" || !up.FromDefaultRoute {
			t.Errorf("from the default route: %+v, %v", up, err)
		}
		if up, err := nl.FindUplink("lo"); err != nil || up.Name != "lo" || up.FromDefaultRoute {
			t.Errorf("named: %+v, %v", up, err)
		}
		if _, err := nl.FindUplink("nope0"); err == nil || !strings.Contains(err.Error(), "uplink nope0") {
			t.Errorf("a named device that is not there: %v", err)
		}
		addr, err := nl.UplinkAddr(up.Index)
		if err != nil || addr.String() != "10.9.0.1" {
			t.Errorf("uplink address %v, %v", addr, err)
		}
		// The default route's device cannot be found: an error, not "no
		// uplink", which would leave endpoints unmasqueraded.
		linkByIndex = func(int) (netlink.Link, error) { return nil, netlink.LinkNotFoundError{} }
		defer func() { linkByIndex = netlink.LinkByIndex }()
		if up, err := nl.FindUplink(""); err == nil || up != nil {
			t.Errorf("default route's device gone: %+v, %v; want an error", up, err)
		}
	})
	inNewNetns(t, false, func() {
		if up, err := nl.FindUplink(""); up != nil || err != nil {
			t.Errorf("no default route: %+v, %v; want no uplink and no error", up, err)
		}
	})
}
