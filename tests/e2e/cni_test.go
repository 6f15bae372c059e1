package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// cniWorld is a daemon with networks web (10.30.0.0/24) and db
// (10.31.0.0/24), and the rig that drives ebpfnet-cni.
func cniWorld(t *testing.T) (*world.World, *cniRig, *libcni.NetworkConfigList, *libcni.NetworkConfigList) {
	t.Helper()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	w.MustCLI("network", "create", "db", "--subnet", "10.31.0.0/24")
	r := newCNIRig(t, w)
	return w, r, r.conflist("web"), r.conflist("db")
}

func cniEndpoint(t *testing.T, w *world.World, id string) *api.Endpoint {
	t.Helper()
	for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
		if ep.ContainerID == id {
			return &ep
		}
	}
	return nil
}

// ADD gives the container the interface, address, gateway and routes in
// its result and in its namespace; published ports, container to
// container and masquerade work as for any endpoint; a second network's
// ADD gives a second interface; DEL undoes each.
func TestCNIAddDel(t *testing.T) {
	t.Parallel()
	w, r, web, db := cniWorld(t)
	ns1, ns2 := r.netns("c1"), r.netns("c2")
	ports := map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}
	res := r.mustAdd(web, rt("c1id", ns1, "eth0", ports))
	a1 := addrOf(t, res, "eth0")
	if !netip.MustParsePrefix("10.30.0.0/24").Contains(a1.Addr()) || a1.Bits() != 24 {
		t.Fatalf("c1 got %s, want an address of 10.30.0.0/24 with its length", a1)
	}
	if res.Interfaces[0].Sandbox != ns1 || len(res.Routes) != 1 || res.Routes[0].GW.String() != "10.30.0.1" {
		t.Errorf("result: interface %+v, routes %v; want sandbox %s and a default route via 10.30.0.1", res.Interfaces[0], res.Routes, ns1)
	}
	if out := w.MustExec(w.Node, "ip", "-n", strings.TrimPrefix(ns1, "/run/netns/"), "-4", "addr", "show", "eth0"); !strings.Contains(out, a1.String()) {
		t.Errorf("eth0 in c1 lacks %s:\n%s", a1, out)
	}
	ep := cniEndpoint(t, w, "c1id")
	if ep == nil || len(ep.Ports) != 1 || ep.Ports[0].HostPort != 8080 {
		t.Fatalf("endpoint ls shows c1 as %+v, want its port 8080", ep)
	}
	c1 := strings.TrimPrefix(ns1, "/run/netns/")
	serve(t, w, c1, "tcp", ":80", "c1")
	t.Run("published from ext", func(t *testing.T) {
		mustReach(t, w, w.Ext, false, "tcp", world.NodeIP.String()+":8080", "c1 "+world.ExtIP.String(), world.NodeIP.String()+":8080")
	})
	if !slices.Equal(res.DNS.Nameservers, []string{"127.0.0.11"}) {
		t.Errorf("result dns %+v, want nameserver 127.0.0.11", res.DNS)
	}
	dnsCaps := map[string]any{"dns": map[string]any{"searches": []string{"corp.example"}, "options": []string{"ndots:1"}},
		"aliases": map[string][]string{"web": {"c2alias"}}}
	res2 := r.mustAdd(web, rt("c2id", ns2, "eth0", dnsCaps))
	if !slices.Equal(res2.DNS.Search, []string{"corp.example"}) || !slices.Equal(res2.DNS.Options, []string{"ndots:1"}) {
		t.Errorf("result dns %+v, want the dns capability's search and options", res2.DNS)
	}
	a2 := addrOf(t, res2, "eth0")
	t.Run("names at 127.0.0.11", func(t *testing.T) {
		out, err := w.CgroupCmd(c1, "dig", "+short", "+time=2", "+tries=1", "@127.0.0.11", "c2alias").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != a2.Addr().String() {
			t.Fatalf("c2alias from c1 is %q (%v), want %s", out, err, a2.Addr())
		}
	})
	c2 := strings.TrimPrefix(ns2, "/run/netns/")
	t.Run("container to container", func(t *testing.T) {
		mustReach(t, w, c2, false, "tcp", a1.Addr().String()+":80", "c1 "+a2.Addr().String(), a1.Addr().String()+":80")
	})
	t.Run("masquerade out", func(t *testing.T) {
		serve(t, w, w.Ext, "tcp", ":7000", "ext")
		mustReach(t, w, c2, false, "tcp", world.ExtIP.String()+":7000", "ext "+world.NodeIP.String()+":", world.ExtIP.String()+":7000")
	})
	t.Run("hairpin", func(t *testing.T) {
		mustReach(t, w, c2, false, "tcp", world.NodeIP.String()+":8080", "c1 ", world.NodeIP.String()+":8080")
	})
	t.Run("second network", func(t *testing.T) {
		res := r.mustAdd(db, rt("c1id", ns1, "net1", ports))
		a := addrOf(t, res, "net1")
		if !netip.MustParsePrefix("10.31.0.0/24").Contains(a.Addr()) || len(res.Routes) != 0 {
			t.Fatalf("net1 got %s with routes %v, want 10.31.0.0/24 and no default route", a, res.Routes)
		}
		if ep := cniEndpoint(t, w, "c1id"); len(ep.Interfaces) != 2 || len(ep.Ports) != 1 {
			t.Fatalf("c1 has %+v, want eth0 and net1 and still one port", ep)
		}
		if err := r.check(db, rt("c1id", ns1, "net1", ports)); err != nil {
			t.Errorf("CHECK net1: %v", err)
		}
		if err := r.del(db, rt("c1id", ns1, "net1", ports)); err != nil {
			t.Fatal(err)
		}
		if ep := cniEndpoint(t, w, "c1id"); len(ep.Interfaces) != 1 || len(ep.Ports) != 1 {
			t.Fatalf("after DEL of net1, c1 has %+v, want eth0 and its port", ep)
		}
	})
	t.Run("again is the same", func(t *testing.T) {
		if got := addrOf(t, r.mustAdd(web, rt("c2id", ns2, "eth0", nil)), "eth0"); got != a2 {
			t.Errorf("a repeated ADD gave %s, the first %s", got, a2)
		}
	})
	t.Run("del", func(t *testing.T) {
		for range 2 { // the second finds nothing, and succeeds
			if err := r.del(web, rt("c1id", ns1, "eth0", ports)); err != nil {
				t.Fatal(err)
			}
		}
		if ep := cniEndpoint(t, w, "c1id"); ep != nil {
			t.Fatalf("c1 is still an endpoint: %+v", ep)
		}
		mustNotReach(t, w, w.Ext, false, "tcp", world.NodeIP.String()+":8080")
		for _, p := range cliJSON[[]api.BPFPort](t, w, "bpf", "ports", "--json") {
			t.Errorf("enet_ports still holds %+v", p)
		}
	})
}

// CHECK compares with the kernel; DEL succeeds when the namespace or the
// daemon's memory of it is gone; GC removes what is not valid; STATUS and
// every call fail with a code and a message when the daemon is down.
func TestCNIVerbs(t *testing.T) {
	t.Parallel()
	w, r, web, _ := cniWorld(t)
	ns := r.netns("v1")
	c := rt("v1id", ns, "eth0", map[string]any{"ips": []string{"10.30.0.77/24"}, "mac": "02:00:00:00:00:77"})
	res := r.mustAdd(web, c)
	if a := addrOf(t, res, "eth0"); a.String() != "10.30.0.77/24" || res.Interfaces[0].Mac != "02:00:00:00:00:77" {
		t.Fatalf("ips and mac capabilities: got %s %s", a, res.Interfaces[0].Mac)
	}
	if err := r.check(web, c); err != nil {
		t.Fatalf("CHECK of a fresh attachment: %v", err)
	}
	v1 := strings.TrimPrefix(ns, "/run/netns/")
	w.MustExec(w.Node, "ip", "-n", v1, "addr", "del", "10.30.0.77/24", "dev", "eth0")
	if err := r.check(web, c); err == nil || !strings.Contains(err.Error(), "10.30.0.77/24") {
		t.Errorf("CHECK with the address removed inside: %v, want it named", err)
	}
	t.Run("errors", func(t *testing.T) {
		other := r.netns("v2")
		if _, err := r.add(web, rt("v2id", other, "eth0", map[string]any{"ips": []string{"10.30.0.77/24"}})); cniCode(err) == 0 ||
			!strings.Contains(err.Error(), "10.30.0.77") {
			t.Errorf("ADD of a taken address: %v (code %d)", err, cniCode(err))
		}
		if _, err := r.add(r.conflist("web"), rt("v2id", "/run/netns/nothing-here", "eth0", nil)); cniCode(err) == 0 {
			t.Errorf("ADD in a netns that is not there: %v", err)
		}
		w.MustCLI("network", "create", "gone", "--subnet", "10.32.0.0/24")
		gone := r.conflist("gone")
		w.MustCLI("network", "rm", "gone")
		if _, err := r.add(gone, rt("v2id", other, "eth0", nil)); cniCode(err) != 7 || !strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("ADD on a network removed since: %v (code %d), want 7 naming it", err, cniCode(err))
		}
		if ep := cniEndpoint(t, w, "v2id"); ep != nil {
			t.Errorf("failed ADDs left %+v", ep)
		}
	})
	t.Run("del with the netns gone", func(t *testing.T) {
		w.MustExec(w.Node, "ip", "netns", "del", v1)
		if err := r.del(web, c); err != nil {
			t.Fatal(err)
		}
		if ep := cniEndpoint(t, w, "v1id"); ep != nil {
			t.Errorf("v1 is still an endpoint: %+v", ep)
		}
	})
	t.Run("add again after the netns went without a del", func(t *testing.T) {
		first, again := r.netns("r1"), r.netns("r2")
		r.mustAdd(web, rt("r1id", first, "eth0", nil))
		w.MustExec(w.Node, "ip", "netns", "del", strings.TrimPrefix(first, "/run/netns/"))
		if !world.Wait(5*time.Second, func() bool { ep := cniEndpoint(t, w, "r1id"); return ep != nil && ep.State == "gone" }) {
			t.Fatalf("r1 is not gone: %+v", cniEndpoint(t, w, "r1id"))
		}
		r.mustAdd(web, rt("r1id", again, "eth0", nil))
		if ep := cniEndpoint(t, w, "r1id"); ep == nil || ep.State != "ready" || ep.Netns != again {
			t.Errorf("after the second ADD: %+v", ep)
		}
		if err := r.del(web, rt("r1id", again, "eth0", nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("gc", func(t *testing.T) {
		keep, drop := r.netns("g1"), r.netns("g2")
		r.mustAdd(web, rt("g1id", keep, "eth0", nil))
		r.mustAdd(web, rt("g2id", drop, "eth0", nil))
		// libcni DELs what its cache holds before it asks the plugin to
		// GC; with an empty cache (a runtime that lost it) the removal is
		// the plugin's own.
		dir, _ := world.CNIPluginDir()
		fresh := libcni.NewCNIConfigWithCacheDir([]string{dir}, t.TempDir(), nil)
		err := fresh.GCNetworkList(t.Context(), web, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{{ContainerID: "g1id", IfName: "eth0"}}})
		if err != nil {
			t.Fatal(err)
		}
		if cniEndpoint(t, w, "g1id") == nil || cniEndpoint(t, w, "g2id") != nil {
			t.Errorf("after GC keeping g1: g1 %v, g2 %v", cniEndpoint(t, w, "g1id"), cniEndpoint(t, w, "g2id"))
		}
	})
	t.Run("daemon down", func(t *testing.T) {
		if err := r.cfg.GetStatusNetworkList(t.Context(), web); err != nil {
			t.Fatalf("STATUS with the daemon up: %v", err)
		}
		q1 := rt("q1id", r.netns("q1"), "eth0", nil)
		r.mustAdd(web, q1)
		w.StopDaemon()
		up := false
		defer func() {
			if !up {
				w.StartDaemon()
			}
		}()
		err := r.cfg.GetStatusNetworkList(t.Context(), web)
		if cniCode(err) != 50 {
			t.Errorf("STATUS with the daemon down: %v (code %d), want 50", err, cniCode(err))
		}
		_, err = r.add(web, rt("d1id", r.netns("d1"), "eth0", nil))
		if cniCode(err) != 11 || !strings.Contains(err.Error(), "ebpfnet daemon start") {
			t.Errorf("ADD with the daemon down: %v (code %d), want 11 and how to start it", err, cniCode(err))
		}
		// A DEL is queued for the daemon's start, and succeeds.
		if err := r.del(web, q1); err != nil {
			t.Errorf("DEL with the daemon down: %v, want it queued and a success", err)
		}
		queue := filepath.Join(api.CNIDelQueueDir(w.Socket), "*.json")
		if queued, _ := filepath.Glob(queue); len(queued) != 1 {
			t.Errorf("queued DELs: %v, want one", queued)
		}
		w.StartDaemon()
		up = true
		if cniEndpoint(t, w, "q1id") != nil {
			t.Errorf("the queued DEL of q1 was not carried out at the daemon's start")
		}
		if left, _ := filepath.Glob(queue); len(left) != 0 {
			t.Errorf("queued DELs left after the start: %v", left)
		}
	})
	t.Run("version", func(t *testing.T) {
		dir, _ := world.CNIPluginDir()
		info, err := libcni.NewCNIConfig([]string{dir}, nil).GetVersionInfo(t.Context(), "ebpfnet-cni")
		if err != nil || !strings.Contains(fmt.Sprint(info.SupportedVersions()), "1.1.0") {
			t.Errorf("VERSION: %v %v", info, err)
		}
	})
}

// ebpfnet-cni chained with Debian's tuning plugin: tuning reads the
// interface from ebpfnet's result (prevResult), changes it, and passes
// the result on; CHECK and DEL go through the chain.
func TestCNIChained(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	r := newCNIRig(t, w)
	list := r.conflist("web", map[string]any{"type": "tuning", "mtu": 1400, "sysctl": map[string]string{"net.ipv4.conf.eth0.arp_notify": "1"}})
	ns := r.netns("t1")
	c := rt("t1id", ns, "eth0", nil)
	res := r.mustAdd(list, c)
	a := addrOf(t, res, "eth0")
	if len(res.Interfaces) != 1 || len(res.Routes) != 1 {
		t.Errorf("the chain's result: %+v, want ebpfnet's interface and route passed on", res)
	}
	t1 := strings.TrimPrefix(ns, "/run/netns/")
	if out := w.MustExec(w.Node, "ip", "-n", t1, "link", "show", "eth0"); !strings.Contains(out, "mtu 1400") {
		t.Errorf("tuning did not set the MTU of eth0:\n%s", out)
	}
	if out := w.MustExec(t1, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_notify"); strings.TrimSpace(out) != "1" {
		t.Errorf("tuning did not set arp_notify: %q", out)
	}
	if err := r.check(list, c); err != nil {
		t.Errorf("CHECK through the chain: %v", err)
	}
	if err := r.del(list, c); err != nil {
		t.Fatal(err)
	}
	if ep := cniEndpoint(t, w, "t1id"); ep != nil {
		t.Errorf("after DEL, %s is still endpoint %+v", a, ep)
	}
}

// By hand, as the README says: cnitool (the CNI project's, built from
// go.mod's module) runs ebpfnet-cni with the conflist `ebpfnet cni config`
// wrote; DEL works after a daemon restart in between.
func TestCNIByHand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	tool, err := world.Cnitool()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := world.CNIPluginDir()
	if err != nil {
		t.Fatal(err)
	}
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "30-web.conflist"), []byte(w.MustCLI("cni", "config", "web")), 0o644); err != nil {
		t.Fatal(err)
	}
	// cnitool keeps libcni's cache in /var/lib/cni, which it cannot be
	// told to move: DEL removes its entry, and what it created goes.
	for _, d := range []string{"/var/lib/cni", "/var/lib/cni/results"} {
		if _, err := os.Stat(d); err != nil {
			t.Cleanup(func() { _ = os.Remove(d) }) // only if empty: a parallel podman test may use it
		}
	}
	ns := newCNIRig(t, w).netns("h1")
	run := func(verb string) string {
		t.Helper()
		cmd := exec.Command(tool, verb, "web", ns)
		cmd.Env = append(os.Environ(), "CNI_PATH="+dir, "NETCONFPATH="+conf, "CNI_IFNAME=eth0",
			"CAP_ARGS="+`{"portMappings":[{"hostPort":8090,"containerPort":80,"protocol":"tcp"}]}`)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cnitool %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}
	if out := run("add"); !strings.Contains(out, `"10.30.0.2/24"`) {
		t.Errorf("cnitool add printed:\n%s", out)
	}
	run("check")
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 1 || len(eps[0].Ports) != 1 || eps[0].Ports[0].HostPort != 8090 {
		t.Fatalf("after cnitool add: %+v", eps)
	}
	w.StopDaemon()
	w.StartDaemon()
	run("del")
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 0 {
		t.Errorf("after a restart and cnitool del: %+v", eps)
	}
}
