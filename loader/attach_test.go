package loader

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestAttachFallsBackToTC: where the kernel has no tcx (< 6.6), auto
// attaches with clsact + cls_bpf instead, and tcx asked for by name fails;
// once tcx is there again, auto moves the hook back to a tcx link and
// takes the tc filter off. The kernel here has tcx, so its absence is
// stood in for at the one call that needs it.
func TestAttachFallsBackToTC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("test requires root")
	}
	dp := loadInTempPins(t)
	ifindex := vethInNewNetns(t)
	noTCX(t)

	if mode, err := dp.Attach(ModeAuto, dp.EnetFromEp, "veth0", ifindex, Ingress); err != nil || mode != ModeTC {
		t.Fatalf("auto without tcx: mode %q, %v; want tc", mode, err)
	}
	if n := tcFilters(t, ifindex); n != 1 {
		t.Fatalf("auto without tcx: %d ebpfnet tc filters, want 1", n)
	}
	if _, err := os.Stat(dp.LinkPin("veth0", Ingress)); !os.IsNotExist(err) {
		t.Fatalf("auto without tcx pinned a link: %v", err)
	}
	if _, err := dp.Attach(ModeTCX, dp.EnetFromEp, "veth0", ifindex, Ingress); err == nil {
		t.Fatalf("tcx by name without tcx succeeded")
	}

	attachTCXLink = link.AttachTCX
	if mode, err := dp.Attach(ModeAuto, dp.EnetFromEp, "veth0", ifindex, Ingress); err != nil || mode != ModeTCX {
		t.Fatalf("auto with tcx: mode %q, %v; want tcx", mode, err)
	}
	if n := tcFilters(t, ifindex); n != 0 {
		t.Fatalf("auto with tcx left %d tc filters beside the link", n)
	}
	if err := dp.Detach("veth0", ifindex, Ingress); err != nil {
		t.Fatal(err)
	}
}

func noTCX(t *testing.T) {
	attachTCXLink = func(link.TCXOptions) (link.Link, error) {
		return nil, fmt.Errorf("tcx: %w", ebpf.ErrNotSupported)
	}
	t.Cleanup(func() { attachTCXLink = link.AttachTCX })
}

// loadInTempPins loads the datapath with its pins in a fresh dir of the
// machine's bpffs, removed at the end.
func loadInTempPins(t *testing.T) *Datapath {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	dir := "/sys/fs/bpf/ebpfnet-loadertest-" + hex.EncodeToString(b)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Skipf("no bpffs at /sys/fs/bpf: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	dp, _, err := Load(dir, Options{CTMax: 1024, NATMax: 1024})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp
}

// vethInNewNetns moves the test's goroutine, locked to its thread for
// good, into a new network namespace with a dummy device, and returns the
// device's index. The runtime discards the thread when the test ends.
func vethInNewNetns(t *testing.T) int {
	t.Helper()
	runtime.LockOSThread()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0"}, PeerName: "veth1"}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth0: %v", err)
	}
	l, err := netlink.LinkByName("veth0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Index
}

func tcFilters(t *testing.T, ifindex int) int {
	t.Helper()
	fs, err := netlink.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, Ingress.tcParent())
	if err != nil {
		t.Fatalf("list tc filters: %v", err)
	}
	n := 0
	for _, f := range fs {
		if f.Attrs().Handle == tcFilterHandle && f.Attrs().Priority == tcFilterPrio {
			n++
		}
	}
	return n
}
