package world

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Podman's CNI mode: Debian's podman 4.3.1 with network_backend "cni",
// the conflists and the plugins the test names, run in the node, so the
// plugins' bridge, veths and iptables rules are the node's and go with it.
//
// What podman does outside the world's temp dir in this mode, and what
// Close does about it:
//
//   - libcni's cache, /var/lib/cni/results/<network>-<container ID>-<ifname>:
//     podman 4.3 (containers/common v0.50) makes its libcni.CNIConfig with
//     libcni.NewCNIConfig, no cache dir, and sets no RuntimeConf.CacheDir,
//     so libcni's default /var/lib/cni is the only one it can use: neither
//     containers.conf nor a conflist moves it. libcni writes the entry on
//     ADD and removes it on DEL (podman rm); Close removes whatever entry
//     of this world's containers is left, and /var/lib/cni/results and
//     /var/lib/cni themselves if they were not there before and are empty
//     (so a world running beside this one keeps its entries).
//   - host-local's leases: /var/lib/cni/networks/<network> unless the ipam
//     sets dataDir; RunNet refuses a network whose host-local ipam keeps
//     them outside the world's temp dir.
//   - the container's netns, /run/netns/netns-<uuid>: podman removes it on
//     rm; Close unmounts and removes any of this world's containers left.
//   - cni.lock: podman makes it in the network config dir, the conflists'
//     dir here.

const (
	cniCacheDir   = "/var/lib/cni"
	cniResultsDir = cniCacheDir + "/results"
)

// cniMode is what PodmanCNI adds to a Podman.
type cniMode struct {
	mu        sync.Mutex // note runs from StartNet, which tests call in parallel
	conf      string     // the containers.conf CONTAINERS_CONF names
	cache     cniCache
	ids       map[string]bool
	sandboxes map[string]bool // the containers' netns paths
}

// PodmanCNI readies podman with network_backend "cni", conflists read from
// confDir and plugins from binDirs (Debian's /usr/lib/cni when none are
// given), all through a containers.conf in the world's temp dir. Close of
// the world removes the containers, their netns and what libcni kept of
// them under /var/lib/cni.
func (w *World) PodmanCNI(confDir string, binDirs ...string) *Podman {
	w.t.Helper()
	if len(binDirs) == 0 {
		binDirs = []string{"/usr/lib/cni"}
	}
	p := w.Podman()
	m := &cniMode{conf: filepath.Join(p.dir, "containers.conf"), ids: map[string]bool{}, sandboxes: map[string]bool{}}
	m.cache = noteCNICache()
	dirs := make([]string, len(binDirs))
	for i, d := range binDirs {
		dirs[i] = strconv.Quote(d)
	}
	// TOML basic strings take Go's quoting for the paths a test uses.
	conf := strings.Join([]string{
		"[network]",
		`network_backend = "cni"`,
		"cni_plugin_dirs = [" + strings.Join(dirs, ", ") + "]",
		"network_config_dir = " + strconv.Quote(confDir),
		"",
	}, "\n")
	if err := os.WriteFile(m.conf, []byte(conf), 0o644); err != nil {
		w.t.Fatalf("podman containers.conf: %v", err)
	}
	p.netDir, p.cni = confDir, m
	return p
}

// RunNet starts a detached container on a CNI network, with extra podman
// run args (-p 8080:80, --ip 10.77.0.50), running argv from the rootfs,
// and returns the pid of its first process.
func (p *Podman) RunNet(name, network string, extra []string, argv ...string) int {
	p.w.t.Helper()
	if err := p.StartNet(name, network, extra, argv...); err != nil {
		p.w.t.Fatalf("%v", err)
	}
	return p.Pid(name)
}

// StartNet is RunNet for callers that cannot fail the test from where
// they are (goroutines): it reports what went wrong.
func (p *Podman) StartNet(name, network string, extra []string, argv ...string) error {
	if p.cni != nil {
		if err := p.checkDataDir(network); err != nil {
			return fmt.Errorf("podman network %s: %w", network, err)
		}
	}
	args := []string{"run", "-d", "--name", name, "--network", network, "--cgroup-parent", p.parent,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	args = append(append(append(args, extra...), "--rootfs", p.Rootfs), argv...)
	out, err := p.Exec(args...)
	if p.cni != nil {
		// Whether or not run failed, the container may exist: note it for
		// Close.
		p.cni.note(p, name)
	}
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// IP is a container's address on a network.
func (p *Podman) IP(name, network string) netip.Addr {
	p.w.t.Helper()
	out, err := p.Exec("inspect", "-f", fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", network), name)
	ip, perr := netip.ParseAddr(out)
	if err != nil || perr != nil {
		p.w.t.Fatalf("address of container %s on %s: %v %q", name, network, err, out)
	}
	return ip
}

// checkDataDir refuses a network whose host-local ipam would keep its
// leases in /var/lib/cni/networks or anywhere else outside the world.
func (p *Podman) checkDataDir(network string) error {
	files, _ := filepath.Glob(filepath.Join(p.netDir, "*.conflist"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var list struct {
			Name    string `json:"name"`
			Plugins []struct {
				IPAM struct {
					Type    string `json:"type"`
					DataDir string `json:"dataDir"`
				} `json:"ipam"`
			} `json:"plugins"`
		}
		if json.Unmarshal(raw, &list) != nil || list.Name != network {
			continue
		}
		for _, pl := range list.Plugins {
			if pl.IPAM.Type == "host-local" && !strings.HasPrefix(filepath.Clean(pl.IPAM.DataDir)+"/", p.w.Dir+"/") {
				return fmt.Errorf("%s: host-local ipam needs a dataDir under %s, not %q", f, p.w.Dir, pl.IPAM.DataDir)
			}
		}
		return nil
	}
	return fmt.Errorf("no conflist named %s in %s", network, p.netDir)
}

// note records a container's ID and netns path.
func (m *cniMode) note(p *Podman, name string) {
	out, err := p.Exec("inspect", "-f", "{{.Id}} {{.NetworkSettings.SandboxKey}}", name)
	if err != nil {
		return
	}
	fs := strings.Fields(out)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(fs) > 0 {
		m.ids[fs[0]] = true
	}
	if len(fs) > 1 {
		m.sandboxes[fs[1]] = true
	}
}

// collect notes every container before `podman rm -a`, those a test made
// with Exec too.
func (m *cniMode) collect(p *Podman) {
	out, err := p.Exec("ps", "-a", "--format", "{{.Names}}")
	if err != nil {
		return
	}
	for _, name := range strings.Fields(out) {
		m.note(p, name)
	}
}

// close removes, after `podman rm -a`, what podman left outside the
// world's temp dir: the containers' netns and libcni's cache entries. It
// fails the test for a netns left; podman's own DEL removes the cache
// entries, and a leftover (a container whose DEL failed) is logged.
func (m *cniMode) close(p *Podman) {
	var leaks []string
	for ns := range m.sandboxes {
		if _, err := os.Stat(ns); err == nil {
			_ = syscall.Unmount(ns, syscall.MNT_DETACH)
			_ = os.Remove(ns)
			leaks = append(leaks, "netns "+ns)
		}
	}
	m.cache.tidy(p.w.t, "podman", func(path string) bool {
		for id := range m.ids {
			if strings.Contains(filepath.Base(path), "-"+id+"-") {
				return true
			}
		}
		return false
	})
	if len(leaks) > 0 {
		p.w.t.Fatalf("podman left behind: %s", strings.Join(leaks, "; "))
	}
}

// removeIfEmpty removes a dir that holds nothing; rmdir refuses one that
// does.
func removeIfEmpty(dir string) { _ = os.Remove(dir) }

// cniCache is libcni's cache, /var/lib/cni, which podman 4.3 and
// containerd 1.6 write and cannot be told to move: whether its dirs were
// there when a runtime of the world (or a test binary) started.
type cniCache struct{ hadCache, hadResults bool }

func noteCNICache() cniCache { return cniCache{exists(cniCacheDir), exists(cniResultsDir)} }

// tidy removes the cache entries owns claims, logging each as left by
// who, then the dirs if they were not there before and are empty: other
// worlds' runtimes may have entries.
func (c cniCache) tidy(t T, who string, owns func(path string) bool) {
	entries, _ := os.ReadDir(cniResultsDir)
	for _, e := range entries {
		if path := filepath.Join(cniResultsDir, e.Name()); owns(path) {
			t.Logf("%s left libcni's cache entry %s: removed", who, path)
			_ = os.Remove(path)
		}
	}
	if !c.hadResults {
		removeIfEmpty(cniResultsDir)
	}
	if !c.hadCache {
		removeIfEmpty(cniCacheDir)
	}
}

// TidyCNICache is for a test binary's TestMain: called at its start, it
// notes whether libcni's cache dirs are there; the func it returns, called
// at the end, removes them if they were not and are empty. Each world
// removes its own entries, but worlds running side by side cannot tell
// which of them made the dirs.
func TidyCNICache() func() {
	c := noteCNICache()
	return func() { c.tidy(nil, "", func(string) bool { return false }) }
}
