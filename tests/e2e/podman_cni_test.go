package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// podmanWorld is a daemon with networks web and db, and Debian's podman
// in its CNI mode with the conflists `ebpfnet cni config` prints, as a
// user writes them to /etc/cni/net.d, and ebpfnet-cni as its only plugin.
func podmanWorld(t *testing.T) (*world.World, *world.Podman, string) {
	t.Helper()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.30.0.0/24")
	w.MustCLI("network", "create", "db", "--subnet", "10.31.0.0/24")
	conf := filepath.Join(w.Dir, "net.d")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"web", "db"} {
		if err := os.WriteFile(filepath.Join(conf, "30-"+n+".conflist"), []byte(w.MustCLI("cni", "config", n)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := world.CNIPluginDir()
	if err != nil {
		t.Fatal(err)
	}
	return w, w.PodmanCNI(conf, dir), conf
}

// wget fetches url with busybox in a namespace of the world; node
// commands run in the daemon's cgroup, as the node's own processes do.
func wget(w *world.World, netns, url string) (string, error) {
	argv := []string{"busybox", "timeout", "5", "busybox", "wget", "-qO-", url}
	cmd := w.Cmd(netns, argv...)
	if netns == w.Node {
		cmd = w.CgroupCmd(netns, argv...)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGet(t *testing.T, w *world.World, netns, url string) {
	t.Helper()
	if out, err := wget(w, netns, url); err != nil || !strings.Contains(out, "hello from podman") {
		t.Errorf("GET %s from %s: %v %q", url, netns, err, out)
	}
}

// Podman runs containers on ebpfnet networks through ebpfnet-cni: they
// reach each other and the outside, their -p ports answer from the
// outside, the node and other containers, network connect and disconnect
// work, and rm leaves nothing.
func TestPodmanCNI(t *testing.T) {
	t.Parallel()
	w, p, _ := podmanWorld(t)
	p.RunNet("api", "web", []string{"-p", "8080:80"}, "httpd", "-f", "-p", "80", "-h", "/www")
	p.RunNet("cli", "web", []string{"--ip", "10.30.0.50"}, "sleep", "300")
	api1 := p.IP("api", "web")
	if cli := p.IP("cli", "web"); cli.String() != "10.30.0.50" {
		t.Errorf("--ip 10.30.0.50 gave %s", cli)
	}
	exec := func(args ...string) (string, error) {
		return p.Exec(append([]string{"exec", "cli", "busybox", "timeout", "5"}, args...)...)
	}
	t.Run("endpoint ls", func(t *testing.T) {
		var names []string
		for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
			names = append(names, ep.Name)
			if ep.Name == "api" && (len(ep.Ports) != 1 || ep.Ports[0].HostPort != 8080 || ep.Interfaces[0].IP != api1.String()) {
				t.Errorf("api as ebpfnet sees it: %+v", ep)
			}
		}
		if fmt.Sprint(names) != "[api cli]" {
			t.Errorf("endpoints %v, want the containers by name", names)
		}
	})
	t.Run("container to container", func(t *testing.T) {
		if out, err := exec("wget", "-qO-", "http://"+api1.String()+"/"); err != nil || !strings.Contains(out, "hello from podman") {
			t.Errorf("%v %q", err, out)
		}
	})
	t.Run("masquerade out", func(t *testing.T) {
		serve(t, w, w.Ext, "tcp", ":7000", "ext")
		out, err := exec("sh", "-c", "echo hi | nc "+world.ExtIP.String()+" 7000")
		if err != nil || !strings.HasPrefix(out, "ext "+world.NodeIP.String()+":") {
			t.Errorf("%v %q, want ext to see the node's address", err, out)
		}
	})
	t.Run("published", func(t *testing.T) {
		mustGet(t, w, w.Ext, "http://"+world.NodeIP.String()+":8080/")
		mustGet(t, w, w.Node, "http://127.0.0.1:8080/")
		mustGet(t, w, w.Node, "http://"+world.NodeIP.String()+":8080/")
		if out, err := exec("wget", "-qO-", "http://"+world.NodeIP.String()+":8080/"); err != nil || !strings.Contains(out, "hello from podman") {
			t.Errorf("hairpin: %v %q", err, out)
		}
	})
	t.Run("network connect and disconnect", func(t *testing.T) {
		if out, err := p.Exec("network", "connect", "db", "cli"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		ip := p.IP("cli", "db")
		if out, _ := exec("ip", "-4", "addr"); !strings.Contains(out, ip.String()) {
			t.Errorf("cli has no %s after connect:\n%s", ip, out)
		}
		if out, err := p.Exec("network", "disconnect", "db", "cli"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		if out, _ := exec("ip", "-4", "addr"); strings.Contains(out, ip.String()) {
			t.Errorf("cli still has %s after disconnect:\n%s", ip, out)
		}
	})
	t.Run("restart", func(t *testing.T) {
		if out, err := p.Exec("restart", "-t", "0", "api"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		mustGet(t, w, w.Ext, "http://"+world.NodeIP.String()+":8080/")
		if n := len(cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json")); n != 2 {
			t.Errorf("%d endpoints after a restart, want 2", n)
		}
	})
	t.Run("rm", func(t *testing.T) {
		if out, err := p.Exec("rm", "-f", "-t", "0", "api", "cli"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		leftInEbpfnet(t, w)
	})
}

// leftInEbpfnet fails if an endpoint, a publication or an enet_endpoints
// entry is left.
func leftInEbpfnet(t *testing.T, w *world.World) {
	t.Helper()
	for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
		t.Errorf("endpoint %s is left: %+v", ep.Name, ep)
	}
	for _, p := range cliJSON[[]api.BPFPort](t, w, "bpf", "ports", "--json") {
		t.Errorf("enet_ports holds %+v", p)
	}
	for _, e := range cliJSON[[]api.BPFEndpoint](t, w, "bpf", "endpoints", "--json") {
		if e.Endpoint != "" {
			t.Errorf("enet_endpoints holds %+v", e)
		}
	}
}

// 20 containers started at once each get their own address and
// endpoint; podman kill leaves a container whose attachment a GC with the
// runtime's valid attachments removes; rm -f of the rest leaves nothing.
func TestPodmanCNIParallel(t *testing.T) {
	t.Parallel()
	w, p, conf := podmanWorld(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.StartNet(fmt.Sprintf("p%d", i), "web", nil, "sleep", "300"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ips := map[string]string{}
	for i := range 20 {
		name := fmt.Sprintf("p%d", i)
		ip := p.IP(name, "web").String()
		if other, dup := ips[ip]; dup {
			t.Errorf("%s and %s both have %s", name, other, ip)
		}
		ips[ip] = name
	}
	if eps := cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json"); len(eps) != 20 {
		t.Fatalf("%d endpoints for 20 containers", len(eps))
	}
	t.Run("kill then gc", func(t *testing.T) {
		if out, err := p.Exec("kill", "p0"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		// What is valid is what the runtime still runs: p1..p19. Podman's
		// own cleanup may DEL p0 before the GC does: logged, either way
		// it must be gone after.
		var valid []types.GCAttachment
		for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
			if ep.Name == "p0" {
				t.Logf("before the GC, p0 is still endpoint %s, %s", ep.Name, ep.State)
			}
			if ep.Name != "p0" {
				valid = append(valid, types.GCAttachment{ContainerID: ep.ContainerID, IfName: "eth0"})
			}
		}
		dir, _ := world.CNIPluginDir()
		list, err := libcni.ConfListFromFile(filepath.Join(conf, "30-web.conflist"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := libcni.NewCNIConfigWithCacheDir([]string{dir}, t.TempDir(), nil)
		if err := cfg.GCNetworkList(t.Context(), list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
			t.Fatal(err)
		}
		for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
			if ep.Name == "p0" {
				t.Errorf("p0 is left after kill and GC: %+v", ep)
			}
		}
		if n := len(cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json")); n != 19 {
			t.Errorf("%d endpoints after GC, want the 19 running", n)
		}
	})
	if out, err := p.Exec("rm", "-af", "-t", "0"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	leftInEbpfnet(t, w)
}
