package world

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPodmanCNI: podman in CNI mode in a world, on a network of Debian's
// reference plugins (bridge, host-local, portmap): a container reaches
// another by its address, the node and ext reach a published port, and
// podman rm and the world's Close leave nothing on the machine.
func TestPodmanCNI(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("podman in a world requires root")
	}
	for _, bin := range []string{"podman", "runc", "iptables", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local",
		"/usr/lib/cni/portmap", "/bin/busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
	start := time.Now()
	before := machineView(t)
	var hostSide []string // the veths' node ends
	var bridge, subnet string
	// Registered before the world, so it runs after the world's Close.
	t.Cleanup(func() {
		after := machineView(t)
		if after.cacheThere != before.cacheThere || after.runThere != before.runThere {
			t.Errorf("/var/lib/cni there %v, /run/containers there %v; before: %v, %v",
				after.cacheThere, after.runThere, before.cacheThere, before.runThere)
		}
		if bridge == "" { // the test stopped before it named them
			return
		}
		for _, l := range append(hostSide, bridge) {
			if strings.Contains(after.links, l) {
				t.Errorf("the machine has link %s of the world's node", l)
			}
		}
		if strings.Contains(after.iptables, subnet) || strings.Contains(after.iptables, bridge) {
			t.Errorf("the machine's iptables name %s or %s", subnet, bridge)
		}
		t.Logf("whole test with teardown: %s", time.Since(start).Round(time.Millisecond))
	})

	w := New(t, "")
	confDir := filepath.Join(w.Dir, "cni", "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	network, subnet, bridge := w.Name("net"), "10.77.0.0/24", w.ID+"br"
	ipam := filepath.Join(w.Dir, "cni", "ipam")
	conflist := map[string]any{
		"cniVersion": "1.0.0",
		"name":       network,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": ipam,
					"ranges": [][]map[string]string{{{"subnet": subnet}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	raw, _ := json.MarshalIndent(conflist, "", "  ")
	if err := os.WriteFile(filepath.Join(confDir, network+".conflist"), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	p := w.PodmanCNI(confDir, "/usr/lib/cni")
	p.RunNet("web", network, []string{"-p", "8080:80"}, "httpd", "-f", "-p", "80", "-h", "/www")
	p.RunNet("client", network, []string{"--ip", "10.77.0.50"}, "sleep", "60")
	web := p.IP("web", network)
	if got := p.IP("client", network).String(); got != "10.77.0.50" {
		t.Errorf("client's address %s, want the --ip 10.77.0.50", got)
	}
	t.Logf("containers up after %s; web at %s", time.Since(start).Round(time.Millisecond), web)

	// Container to container, over the bridge. busybox 1.35's wget -T
	// segfaults once connected: timeout bounds it instead.
	var out string
	var err error
	Wait(5*time.Second, func() bool {
		out, err = p.Exec("exec", "client", "busybox", "timeout", "3", "wget", "-qO-", "http://"+web.String()+"/")
		return err == nil
	})
	if err != nil || !strings.Contains(out, "hello from podman") {
		t.Fatalf("client to web: %q %v", out, err)
	}
	// The published port from the node itself (portmap's OUTPUT DNAT)
	// and from ext (its PREROUTING DNAT).
	for _, ns := range []string{w.Node, w.Ext} {
		if out, err := httpGet(ns, "http://"+NodeIP.String()+":8080/"); err != nil || !strings.Contains(out, "hello from podman") {
			t.Errorf("%s to %s:8080: %q %v", ns, NodeIP, out, err)
		}
	}

	// What the plugins made is the node's.
	w.MustExec(w.Node, "ip", "link", "show", bridge)
	for _, l := range strings.Split(w.MustExec(w.Node, "ip", "-br", "link", "show", "master", bridge), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			hostSide = append(hostSide, strings.SplitN(f[0], "@", 2)[0])
		}
	}
	if len(hostSide) != 2 {
		t.Errorf("veths on %s: %v, want two", bridge, hostSide)
	}
	if rules := w.MustExec(w.Node, "iptables-save"); !strings.Contains(rules, "CNI-HOSTPORT-DNAT") || !strings.Contains(rules, subnet) {
		t.Errorf("node's iptables lack portmap's or bridge's rules:\n%s", rules)
	}
	sandboxes := map[string]string{}
	for _, c := range []string{"web", "client"} {
		sandboxes[c], _ = p.Exec("inspect", "-f", "{{.NetworkSettings.SandboxKey}}", c)
	}

	if out, err := p.Exec("rm", "-f", "-t", "0", "web", "client"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for c, ns := range sandboxes {
		if _, err := os.Stat(ns); ns == "" || err == nil {
			t.Errorf("netns %q of %s after podman rm", ns, c)
		}
	}
	if out := w.MustExec(w.Node, "ip", "-br", "link", "show", "master", bridge); strings.TrimSpace(out) != "" {
		t.Errorf("veths left on %s after podman rm:\n%s", bridge, out)
	}
	if rules := w.MustExec(w.Node, "iptables-save"); strings.Contains(rules, web.String()) || strings.Contains(rules, "10.77.0.50") {
		t.Errorf("node's iptables name the containers after podman rm:\n%s", rules)
	}
	if leases, _ := filepath.Glob(filepath.Join(ipam, network, "10.*")); len(leases) > 0 {
		t.Errorf("host-local leases after podman rm: %v", leases)
	}
	if entries, _ := filepath.Glob(filepath.Join(cniResultsDir, network+"-*")); len(entries) > 0 {
		t.Errorf("libcni's cache after podman rm: %v", entries)
	}
	t.Logf("removed after %s", time.Since(start).Round(time.Millisecond))
}

// machine is what of the machine a podman world must leave as it found.
type machine struct {
	cacheThere, runThere bool
	links, iptables      string
}

func machineView(t *testing.T) machine {
	var m machine
	_, err := os.Stat(cniCacheDir)
	m.cacheThere = err == nil
	_, err = os.Stat("/run/containers")
	m.runThere = err == nil
	links, err := exec.Command("ip", "-br", "link").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	rules, _ := exec.Command("iptables-save").Output()
	m.links, m.iptables = string(links), string(rules)
	return m
}

// httpGet fetches url over a connection made in a netns of the world.
func httpGet(ns, url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNetns(ns, func() (err error) {
			c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
