package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// loopback is the reference plugins' loopback, which containerd's CRI
// plugin runs for every pod's lo beside the conflist's network.
const loopback = debianCNI + "/loopback"

// Containerd's CRI plugin (Debian's containerd 1.6) runs a pod on an
// ebpfnet network through ebpfnet-cni, from the conflist `ebpfnet cni
// config` prints, written as-is to its conf_dir: the pod gets an address
// of the network and an endpoint whose container ID is its sandbox ID,
// its port mapping is published and answers from the outside once a
// container of the pod listens, and stopp + rmp leave nothing in ebpfnet.
func TestContainerdCRI(t *testing.T) {
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", loopback} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs Debian's containerd and containernetworking-plugins (tests/deps.sh installs them): %v", err)
		}
	}
	t.Parallel()
	start := time.Now()
	w := newWorld(t)
	w.MustCLI("network", "create", "web", "--subnet", "10.40.0.0/24")
	conf := filepath.Join(w.Dir, "net.d")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	conflist := w.MustCLI("cni", "config", "web")
	if err := os.WriteFile(filepath.Join(conf, "30-web.conflist"), []byte(conflist), 0o644); err != nil {
		t.Fatal(err)
	}
	// The CRI plugin's bin_dir is one dir, where it also finds loopback:
	// ebpfnet-cni and the reference plugins' loopback, as in /opt/cni/bin.
	dir, err := world.CNIPluginDir()
	if err != nil {
		t.Fatal(err)
	}
	binDir := filepath.Join(w.Dir, "cni-bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "ebpfnet-cni"), loopback} {
		if err := os.Symlink(p, filepath.Join(binDir, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	c := w.Containerd(conf, binDir)
	t.Logf("containerd ready with its image in %s", time.Since(start).Round(time.Millisecond))
	logCNIConfig(t, c)

	podConfig := c.WriteJSON("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "web", "namespace": "default", "uid": w.ID + "-web-uid", "attempt": 0},
		"hostname":      "web",
		"log_directory": c.LogDir("web"),
		"port_mappings": []any{map[string]any{"protocol": 0, "container_port": 80, "host_port": 8085}}, // 0: TCP
		"linux": map[string]any{
			"cgroup_parent":    c.Parent,
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 0, "pid": 1, "ipc": 0}},
		},
	})
	ctrConfig := c.WriteJSON("httpd.json", map[string]any{
		"metadata": map[string]any{"name": "httpd", "attempt": 0},
		"image":    map[string]any{"image": c.Image},
		"command":  []string{"/bin/httpd", "-f", "-p", "80", "-h", "/www"},
		"log_path": "httpd.log",
		"linux":    map[string]any{"security_context": map[string]any{"namespace_options": map[string]any{"network": 0, "pid": 1, "ipc": 0}}},
	})

	pod := c.MustCrictl("runp", podConfig)
	var inspect struct {
		Status struct {
			State   string `json:"state"`
			Network struct {
				IP string `json:"ip"`
			} `json:"network"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(c.MustCrictl("inspectp", "-o", "json", pod)), &inspect); err != nil {
		t.Fatalf("crictl inspectp: %v", err)
	}
	ip := inspect.Status.Network.IP
	if inspect.Status.State != "SANDBOX_READY" || !strings.HasPrefix(ip, "10.40.0.") {
		t.Fatalf("pod %s: %s at %q, want ready with an address in 10.40.0.0/24", pod, inspect.Status.State, ip)
	}
	logCNIResult(t, pod)

	t.Run("endpoint", func(t *testing.T) {
		var found bool
		for _, ep := range cliJSON[[]api.Endpoint](t, w, "endpoint", "ls", "--json") {
			if ep.ContainerID != pod {
				t.Errorf("endpoint %s of container %q, want only the sandbox %s", ep.Name, ep.ContainerID, pod)
				continue
			}
			found = true
			if len(ep.Interfaces) != 1 || ep.Interfaces[0].IP != ip || ep.Interfaces[0].Network != "web" {
				t.Errorf("the pod's endpoint %s has interfaces %+v, want %s on web", ep.Name, ep.Interfaces, ip)
			}
			if len(ep.Ports) != 1 || ep.Ports[0].HostPort != 8085 || ep.Ports[0].ContainerPort != 80 || ep.Ports[0].Proto != "tcp" {
				t.Errorf("the pod's endpoint %s has ports %+v, want 8085 -> 80/tcp", ep.Name, ep.Ports)
			}
		}
		if !found {
			t.Errorf("no endpoint of sandbox %s", pod)
		}
		if out := w.MustCLI("port"); !strings.Contains(out, "8085") {
			t.Errorf("ebpfnet port shows no 8085:\n%s", out)
		}
	})

	ctr := c.MustCrictl("create", pod, ctrConfig, podConfig)
	c.MustCrictl("start", ctr)
	t.Run("published", func(t *testing.T) {
		url := "http://" + world.NodeIP.String() + ":8085/"
		var out string
		var err error
		// httpd binds its port a moment after start returns.
		ok := world.Wait(10*time.Second, func() bool {
			out, err = wget(w, w.Ext, url)
			return err == nil && strings.Contains(out, "hello from containerd")
		})
		if !ok {
			logs, _ := c.Crictl("logs", ctr)
			t.Errorf("GET %s from ext: %v %q; httpd's log: %s", url, err, out, logs)
		}
		t.Logf("GET %s from ext: %q", url, out)
	})

	c.MustCrictl("stopp", pod)
	c.MustCrictl("rmp", pod)
	t.Run("stopp and rmp", func(t *testing.T) {
		leftInEbpfnet(t, w)
		if out := w.MustCLI("port"); strings.Contains(out, "8085") {
			t.Errorf("ebpfnet port still shows 8085:\n%s", out)
		}
		if out, _ := c.Crictl("pods", "-q"); out != "" {
			t.Errorf("crictl pods after rmp: %s", out)
		}
	})
	t.Logf("test before teardown: %s", time.Since(start).Round(time.Millisecond))
}

// logCNIConfig logs the conflist as the CRI plugin loaded it.
func logCNIConfig(t *testing.T, c *world.Containerd) {
	t.Helper()
	out, err := c.Crictl("info")
	if err != nil {
		t.Logf("crictl info: %v", err)
		return
	}
	var info struct {
		Config struct {
			CNI struct {
				BinDir  string `json:"binDir"`
				ConfDir string `json:"confDir"`
			} `json:"cni"`
		} `json:"config"`
		CNIConfig struct {
			Networks []struct {
				Config struct {
					Name       string `json:"Name"`
					CNIVersion string `json:"CNIVersion"`
				} `json:"Config"`
			} `json:"Networks"`
		} `json:"cniconfig"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Logf("crictl info: %v", err)
		return
	}
	for _, n := range info.CNIConfig.Networks {
		t.Logf("the CRI loaded network %q, cniVersion %q (conf_dir %s, bin_dir %s)", n.Config.Name, n.Config.CNIVersion,
			info.Config.CNI.ConfDir, info.Config.CNI.BinDir)
	}
}

// logCNIResult logs the cniVersion of the result libcni cached for the
// pod: the version containerd's libcni ran ebpfnet-cni at.
func logCNIResult(t *testing.T, pod string) {
	t.Helper()
	files, _ := filepath.Glob("/var/lib/cni/results/web-" + pod + "-*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var cached struct {
			Kind   string `json:"kind"`
			Result struct {
				CNIVersion string `json:"cniVersion"`
			} `json:"result"`
			Config []byte `json:"config"`
		}
		if json.Unmarshal(raw, &cached) != nil {
			continue
		}
		var conf struct {
			CNIVersion string `json:"cniVersion"`
		}
		_ = json.Unmarshal(cached.Config, &conf)
		t.Logf("libcni's cache %s: result cniVersion %q, config cniVersion %q", filepath.Base(f), cached.Result.CNIVersion, conf.CNIVersion)
	}
}
