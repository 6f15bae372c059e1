package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// Issue 17: each macvlan mode, on the one parent a world's LAN has, one
// network after the other: what the endpoints reach is the mode's.
func TestMacvlanModes(t *testing.T) {
	w := newWorld(t)
	w.AddLAN()
	host := world.LANHostIP.String()
	two := func(mode string) (a, b string) {
		w.MustCLI("network", "create", "lan", "-d", "macvlan", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.1",
			"-o", "parent="+world.LANParentDev, "-o", "macvlan_mode="+mode, "--ip-range", "192.0.2.64/27")
		w.MustCLI("endpoint", "create", w.Name("a"), "--network", "lan")
		w.MustCLI("endpoint", "create", w.Name("b"), "--network", "lan")
		return epIP(t, w, "a", "lan"), epIP(t, w, "b", "lan")
	}
	done := func() {
		w.MustCLI("endpoint", "rm", w.Name("a"), w.Name("b"))
		w.MustCLI("network", "rm", "lan")
	}
	t.Run("private: the LAN, but not each other even through a hairpin switch", func(t *testing.T) {
		_, b := two("private")
		defer done()
		w.LANHairpin(true)
		defer w.LANHairpin(false)
		mustPing(t, w, w.Name("a"), host)
		mustNotPing(t, w, w.Name("a"), b)
	})
	t.Run("vepa: each other only through a switch that hairpins", func(t *testing.T) {
		_, b := two("vepa")
		defer done()
		mustPing(t, w, w.Name("a"), host)
		mustNotPing(t, w, w.Name("a"), b)
		w.LANHairpin(true)
		defer w.LANHairpin(false)
		mustPing(t, w, w.Name("a"), b)
	})
	t.Run("passthru: one endpoint, with the parent's own MAC", func(t *testing.T) {
		w.MustCLI("network", "create", "lan", "-d", "macvlan", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.1",
			"-o", "parent="+world.LANParentDev, "-o", "macvlan_mode=passthru", "--ip-range", "192.0.2.96/27")
		defer w.MustCLI("network", "rm", "lan")
		mustFailCLI(t, w, "takes its parent's MAC", "endpoint", "create", w.Name("a"), "--network", "lan",
			"--mac", "02:00:00:00:00:01")
		parentMAC := links(t, w, w.Node)[world.LANParentDev].Addr
		w.MustCLI("endpoint", "create", w.Name("a"), "--network", "lan")
		defer w.MustCLI("endpoint", "rm", w.Name("a"))
		if got := inspectEndpoint(t, w, w.Name("a")).Interfaces[0].MAC; got != parentMAC {
			t.Fatalf("passthru endpoint MAC %s, want the parent's %s", got, parentMAC)
		}
		mustPing(t, w, w.Name("a"), host)
		mustFailCLI(t, w, "takes one endpoint", "endpoint", "create", w.Name("b"), "--network", "lan")
	})
}

// Issue 17: what a macvlan or ipvlan network refuses, and the kernel
// features it names when this kernel lacks them.
func TestMacvlanBadInput(t *testing.T) {
	w := newWorld(t)
	w.AddLAN()
	mv := func(name, subnet string, extra ...string) []string {
		return append([]string{"network", "create", name, "-d", "macvlan", "--subnet", subnet}, extra...)
	}
	w.MustCLI("network", "create", "web", "--subnet", "10.20.0.0/24")
	w.MustCLI(mv("lan", "192.0.2.0/24", "-o", "parent="+world.LANParentDev)...)
	for _, c := range []struct {
		want string
		args []string
	}{
		{"needs a parent device", mv("x", "192.0.3.0/24")},
		{"was not found on the node", mv("x", "192.0.3.0/24", "-o", "parent=nosuch0")},
		{"not a valid macvlan parent", mv("x", "192.0.3.0/24", "-o", "parent=lo")},
		{"already using parent interface eth1", mv("x", "192.0.3.0/24", "-o", "parent="+world.LANParentDev)},
		{"already using parent interface eth1", []string{"network", "create", "x", "-d", "ipvlan", "--subnet", "192.0.3.0/24",
			"-o", "parent=" + world.LANParentDev}},
		{"is a device ebpfnet made", mv("x", "192.0.3.0/24", "-o", "parent=enet0")},
		{"overlaps network \"lan\"", mv("x", "192.0.2.128/25", "-o", "parent="+world.UplinkDev)},
		{"overlaps network \"lan\"", []string{"network", "create", "x", "--subnet", "192.0.2.0/25"}},
		{"needs --subnet", []string{"network", "create", "x", "-d", "macvlan", "-o", "parent=" + world.UplinkDev}},
		{"macvlan mode 'hairpin' is not valid", mv("x", "192.0.3.0/24", "-o", "parent="+world.UplinkDev, "-o", "macvlan_mode=hairpin")},
		{"unknown macvlan network option \"icc\"", mv("x", "192.0.3.0/24", "-o", "parent="+world.UplinkDev, "-o", "icc=false")},
		{"network driver \"overlay2\" is unknown", []string{"network", "create", "x", "-d", "overlay2"}},
		{"reserved", []string{"network", "create", "host"}},
	} {
		mustFailCLI(t, w, c.want, c.args...)
	}
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "web")
	t.Run("an adopted namespace is refused", func(t *testing.T) {
		mustFailCLI(t, w, "namespaces ebpfnet makes", "endpoint", "create", w.Name("b"), "--network", "lan",
			"--netns", "/run/netns/"+w.Ext)
	})
	t.Run("a second network keeps its own publications off the LAN", func(t *testing.T) {
		w.MustCLI("publish", w.Name("a"), "8080:80")
		w.MustCLI("network", "connect", "lan", w.Name("a"))
		if got := inspectEndpoint(t, w, w.Name("a")); len(got.Ports) != 1 || got.Interfaces[1].Network != "lan" {
			t.Fatalf("a after connecting to lan: %+v", got)
		}
		mustPing(t, w, w.Name("a"), world.LANHostIP.String())
	})
	t.Run("kernel features this kernel may lack", func(t *testing.T) {
		for _, c := range []struct{ kind, option string }{{"ipvlan", "CONFIG_IPVLAN"}, {"vlan", "CONFIG_VLAN_8021Q"},
			{"dummy", "CONFIG_DUMMY"}} {
			if kernelHas(t, w, c.kind) {
				t.Logf("this kernel has %s devices: its error is not checked here", c.kind)
				continue
			}
			var args []string
			switch c.kind {
			case "ipvlan":
				args = []string{"network", "create", "l2", "-d", "ipvlan", "--subnet", "192.0.3.0/24", "-o", "parent=" + world.UplinkDev}
			case "vlan":
				args = mv("lan10", "192.0.4.0/24", "-o", "parent="+world.UplinkDev+".10")
			case "dummy":
				args = mv("inside", "192.0.5.0/24", "--internal")
			}
			mustFailCLI(t, w, c.option, args...)
			if strings.Contains(w.MustCLI("network", "ls"), strings.Fields(args[2])[0]+" ") {
				t.Errorf("network %s is listed after its creation failed", args[2])
			}
		}
	})
}

// kernelHas says whether the kernel makes devices of kind, trying one in
// the world's ext namespace.
func kernelHas(t *testing.T, w *world.World, kind string) bool {
	t.Helper()
	args := []string{"-n", w.Ext, "link", "add", "probe0", "type", kind}
	if kind != "dummy" {
		args = []string{"-n", w.Ext, "link", "add", "link", world.ExtDev, "name", "probe0", "type", kind}
		if kind == "vlan" {
			args = append(args, "id", "10")
		}
	}
	if err := exec.Command("ip", args...).Run(); err != nil {
		return false
	}
	_ = exec.Command("ip", "-n", w.Ext, "link", "del", "probe0").Run()
	return true
}

// Issue 17: an 802.1q parent IF.VLAN is made when missing, tags what its
// endpoints send, and goes with the last network that made it. This
// kernel has no 802.1q: the test says so and skips.
func TestMacvlanVlanParent(t *testing.T) {
	w := newWorld(t)
	w.AddLAN()
	if !kernelHas(t, w, "vlan") {
		t.Skip("this kernel has no 802.1q VLAN devices (CONFIG_VLAN_8021Q): a parent IF.VLAN cannot be made; " +
			"TestMacvlanBadInput checks the error that names it")
	}
	parent := world.LANParentDev + ".10"
	w.MustCLI("network", "create", "lan10", "-d", "macvlan", "--subnet", "192.0.4.0/24", "-o", "parent="+parent)
	if l, ok := links(t, w, w.Node)[parent]; !ok || l.Kind != "vlan" {
		t.Fatalf("no 802.1q device %s in the node: %+v", parent, l)
	}
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "lan10")
	dump := w.Cmd(w.Node, "timeout", "5", "tcpdump", "-c", "1", "-e", "-n", "-i", world.LANParentDev, "vlan", "10")
	var out strings.Builder
	dump.Stdout = &out
	if err := dump.Start(); err != nil {
		t.Fatal(err)
	}
	_ = ping(w, w.Name("a"), "192.0.4.1")
	if err := dump.Wait(); err != nil || !strings.Contains(out.String(), "vlan 10") {
		t.Fatalf("no frame tagged vlan 10 on %s: %v\n%s", world.LANParentDev, err, out.String())
	}
	w.MustCLI("endpoint", "rm", w.Name("a"))
	w.MustCLI("network", "rm", "lan10")
	if _, ok := links(t, w, w.Node)[parent]; ok {
		t.Fatalf("%s is left after the network that made it is removed", parent)
	}
}

// Issue 17: ipvlan endpoints in l2 mode reach the LAN with the parent's
// MAC. This kernel has no ipvlan: the test says so and skips.
func TestIpvlan(t *testing.T) {
	w := newWorld(t)
	w.AddLAN()
	if !kernelHas(t, w, "ipvlan") {
		t.Skip("this kernel has no ipvlan devices (CONFIG_IPVLAN): -d ipvlan is refused with that reason, " +
			"which TestMacvlanBadInput checks")
	}
	w.MustCLI("network", "create", "l2", "-d", "ipvlan", "--subnet", "192.0.2.0/24", "--gateway", "192.0.2.1",
		"-o", "parent="+world.LANParentDev, "--ip-range", "192.0.2.128/27")
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "l2")
	mustPing(t, w, w.Name("a"), world.LANHostIP.String())
	parentMAC := links(t, w, w.Node)[world.LANParentDev].Addr
	if got := inspectEndpoint(t, w, w.Name("a")).Interfaces[0].MAC; got != parentMAC {
		t.Fatalf("ipvlan endpoint MAC %s, want the parent's %s", got, parentMAC)
	}
	w.MustCLI("endpoint", "rm", w.Name("a"))
	w.MustCLI("network", "rm", "l2")
}

// Issue 17: an internal macvlan network gets a dummy parent of its own:
// its endpoints reach each other and nothing else, with no default
// route. This kernel has no dummy devices: the test says so and skips.
func TestMacvlanInternal(t *testing.T) {
	w := newWorld(t)
	if !kernelHas(t, w, "dummy") {
		t.Skip("this kernel has no dummy devices (CONFIG_DUMMY): an --internal macvlan network without a parent is " +
			"refused with that reason, which TestMacvlanBadInput checks")
	}
	n := w.MustCLI("network", "create", "inside", "-d", "macvlan", "--subnet", "192.0.5.0/24", "--internal")
	parent := inspectNetwork(t, w, "inside").Parent
	if l, ok := links(t, w, w.Node)[parent]; !ok || l.Kind != "dummy" {
		t.Fatalf("no dummy parent %s in the node (%s): %+v", parent, n, l)
	}
	w.MustCLI("endpoint", "create", w.Name("a"), "--network", "inside")
	w.MustCLI("endpoint", "create", w.Name("b"), "--network", "inside")
	mustPing(t, w, w.Name("a"), epIP(t, w, "b", "inside"))
	if out := w.MustExec(w.Name("a"), "ip", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Fatalf("an internal endpoint has a default route: %s", out)
	}
	w.MustCLI("endpoint", "rm", w.Name("a"), w.Name("b"))
	w.MustCLI("network", "rm", "inside")
	if _, ok := links(t, w, w.Node)[parent]; ok {
		t.Fatalf("the dummy parent %s is left", parent)
	}
}
