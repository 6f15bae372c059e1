package world

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Containerd is Debian's containerd (1.6) run for a world: in the node's
// netns, with its config, root, state, sockets, runc root, snapshots and
// the pods' netns under the world's temp dir, its CRI plugin reading
// conflists from a dir of the test's and plugins from another, and one
// image, built here from busybox-static (no registry is reachable),
// imported for both the sandbox and the containers. The test drives it
// with crictl, built from cri-tools.
//
// What containerd does outside the world's temp dir, and what Close does
// about it:
//
//   - the shims' sockets, /run/containerd/s/<hash>: containerd 1.6's
//     runc shim puts them under the compiled-in /run/containerd, whatever
//     the config says, and removes its own when it exits; Close removes
//     any of this world's pods left (fails the test for it), and
//     /run/containerd/s and /run/containerd if they were not there before
//     and are empty.
//   - libcni's cache, /var/lib/cni/results/<network>-<sandbox ID>-eth0:
//     the CRI plugin's go-cni sets no cache dir; libcni removes the entry
//     on DEL (crictl stopp), Close removes any of this world's left, and
//     /var/lib/cni/results and /var/lib/cni if it made them.
//   - the pods' cgroups: under a cgroup parent of the world's own in every
//     hierarchy; Close kills what is left in them and removes them.
//   - AppArmor: disable_apparmor, so no profile is loaded into the kernel.
type Containerd struct {
	w       *World
	dir     string
	Socket  string // containerd's gRPC socket, for crictl and ctr
	Image   string // the busybox image, the sandbox image too
	Parent  string // the pods' cgroup_parent
	crictl  string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	hadRun  bool // /run/containerd was there before
	hadS    bool // /run/containerd/s was
	cache   cniCache
	hadLib  bool // /var/lib/containerd was
}

const (
	ctrdRun      = "/run/containerd"
	ctrdShimDir  = ctrdRun + "/s"
	ctrdLib      = "/var/lib/containerd"
	ctrdImageRef = "localhost/ebpfnet-busybox:test"
)

// Containerd starts containerd in the node with its CRI plugin reading
// conflists from confDir and CNI plugins from binDir, imports the busybox
// image, and waits until the CRI reports its network ready. Close of the
// world stops it and removes what it made.
func (w *World) Containerd(confDir, binDir string) *Containerd {
	w.t.Helper()
	crictl, err := Crictl()
	if err != nil {
		w.t.Fatalf("crictl: %v", err)
	}
	c := &Containerd{
		w: w, dir: filepath.Join(w.Dir, "containerd"), Image: ctrdImageRef,
		Parent: "/ebpfnet-" + w.ID + "-cri", crictl: crictl,
	}
	c.Socket = filepath.Join(c.dir, "containerd.sock")
	c.logPath = filepath.Join(c.dir, "containerd.log")
	c.hadRun = exists(ctrdRun)
	c.hadS = exists(ctrdShimDir)
	c.cache = noteCNICache()
	c.hadLib = exists(ctrdLib)
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		w.t.Fatalf("containerd: %v", err)
	}
	w.t.Cleanup(c.close)
	snapshotter := "native"
	if overlayWorks(c.dir) {
		snapshotter = "overlayfs"
	}
	// crictl's config: this containerd, not /etc/crictl.yaml's.
	crictlConf := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n", c.Socket, c.Socket)
	if err := os.WriteFile(filepath.Join(c.dir, "crictl.yaml"), []byte(crictlConf), 0o644); err != nil {
		w.t.Fatalf("crictl config: %v", err)
	}
	conf := filepath.Join(c.dir, "config.toml")
	if err := os.WriteFile(conf, []byte(c.config(confDir, binDir, snapshotter)), 0o644); err != nil {
		w.t.Fatalf("containerd config: %v", err)
	}
	logf, err := os.Create(c.logPath)
	if err != nil {
		w.t.Fatalf("containerd log: %v", err)
	}
	defer logf.Close()
	c.cmd = w.Cmd(w.Node, "containerd", "--config", conf, "--log-level", "info")
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Its own process group: the test's Ctrl-C does not reach it first.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		w.t.Fatalf("start containerd: %v", err)
	}
	c.done = make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	ready := Wait(30*time.Second, func() bool {
		select {
		case <-c.done:
			return true
		default:
		}
		out, err := c.Crictl("info")
		return err == nil && networkReady(out)
	})
	select {
	case <-c.done:
		w.t.Fatalf("containerd exited: %s\n%s", c.cmd.ProcessState, c.Log(40))
	default:
	}
	if !ready {
		out, _ := c.Crictl("info")
		w.t.Fatalf("containerd's CRI not ready in 30s: %s\n%s", out, c.Log(40))
	}
	tarball := filepath.Join(c.dir, "busybox-oci.tar")
	if err := busyboxImage(tarball, ctrdImageRef); err != nil {
		w.t.Fatalf("busybox image: %v", err)
	}
	if out, err := c.Ctr("images", "import", "--snapshotter", snapshotter, tarball); err != nil {
		w.t.Fatalf("%v\n%s", err, out)
	}
	if !Wait(10*time.Second, func() bool { _, err := c.Crictl("inspecti", ctrdImageRef); return err == nil }) {
		out, _ := c.Crictl("images")
		w.t.Fatalf("the CRI does not see %s:\n%s", ctrdImageRef, out)
	}
	return c
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// config is containerd's config.toml: every path under the world's dir,
// the plugins a CRI pod needs, no other listener than the sockets (the
// stream server on 127.0.0.1 of the node, port chosen by the kernel).
func (c *Containerd) config(confDir, binDir, snapshotter string) string {
	q := strconv.Quote // TOML basic strings take Go's quoting for these paths
	return strings.Join([]string{
		"version = 2",
		"root = " + q(filepath.Join(c.dir, "root")),
		"state = " + q(filepath.Join(c.dir, "state")),
		"disabled_plugins = [" + strings.Join([]string{
			q("io.containerd.internal.v1.opt"), // /opt/containerd
			q("io.containerd.snapshotter.v1.aufs"), q("io.containerd.snapshotter.v1.btrfs"),
			q("io.containerd.snapshotter.v1.zfs"), q("io.containerd.snapshotter.v1.devmapper"),
			q("io.containerd.tracing.processor.v1.otlp"),
		}, ", ") + "]",
		"",
		"[grpc]",
		"  address = " + q(c.Socket),
		"[ttrpc]",
		"  address = " + q(c.Socket+".ttrpc"),
		"[debug]",
		`  address = ""`,
		"[metrics]",
		`  address = ""`,
		"",
		`[plugins."io.containerd.grpc.v1.cri"]`,
		"  sandbox_image = " + q(ctrdImageRef),
		`  stream_server_address = "127.0.0.1"`,
		`  stream_server_port = "0"`,
		"  disable_tcp_service = true",
		"  disable_apparmor = true",
		// The sandbox's oom_score_adj is -998, which a machine may refuse
		// to lower to (runc: "failed to update /proc/self/oom_score_adj:
		// Permission denied"): no lower than containerd's own.
		"  restrict_oom_score_adj = true",
		"  enable_selinux = false",
		"  netns_mounts_under_state_dir = true",
		`[plugins."io.containerd.grpc.v1.cri".containerd]`,
		"  snapshotter = " + q(snapshotter),
		`  default_runtime_name = "runc"`,
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]`,
		`  runtime_type = "io.containerd.runc.v2"`,
		`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`,
		"  SystemdCgroup = false",
		"  Root = " + q(filepath.Join(c.dir, "runc")),
		`[plugins."io.containerd.grpc.v1.cri".cni]`,
		"  bin_dir = " + q(binDir),
		"  conf_dir = " + q(confDir),
		"  max_conf_num = 1",
		"",
	}, "\n")
}

// networkReady tells whether `crictl info` reports NetworkReady: the CRI
// found a conflist it can use.
func networkReady(info string) bool {
	var v struct {
		Status struct {
			Conditions []struct {
				Type   string `json:"type"`
				Status bool   `json:"status"`
			} `json:"conditions"`
		} `json:"status"`
	}
	if json.Unmarshal([]byte(info), &v) != nil {
		return false
	}
	for _, cond := range v.Status.Conditions {
		if cond.Type == "NetworkReady" {
			return cond.Status
		}
	}
	return false
}

// Crictl runs crictl against this containerd, in the node.
func (c *Containerd) Crictl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{c.crictl, "--config", filepath.Join(c.dir, "crictl.yaml")}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + c.w.Node, "--"}, argv...)...)
	cmd.Env = append(os.Environ(), "EBPFNET_SOCKET="+c.w.Socket)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return strings.TrimSpace(out.String()), nil
}

// MustCrictl is Crictl that fails the test on error.
func (c *Containerd) MustCrictl(args ...string) string {
	c.w.t.Helper()
	out, err := c.Crictl(args...)
	if err != nil {
		c.w.t.Fatalf("%v\ncontainerd log:\n%s", err, c.Log(30))
	}
	return out
}

// Ctr runs ctr in the CRI's namespace, k8s.io.
func (c *Containerd) Ctr(args ...string) (string, error) {
	return c.w.Exec(c.w.Node, append([]string{"ctr", "--address", c.Socket, "-n", "k8s.io"}, args...)...)
}

// WriteJSON writes v as JSON to name in containerd's dir, for crictl's
// config file arguments, and returns its path.
func (c *Containerd) WriteJSON(name string, v any) string {
	c.w.t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		c.w.t.Fatalf("%s: %v", name, err)
	}
	path := filepath.Join(c.dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		c.w.t.Fatalf("%s: %v", name, err)
	}
	return path
}

// LogDir is a dir for a pod's log_directory.
func (c *Containerd) LogDir(pod string) string { return filepath.Join(c.dir, "logs", pod) }

// Log is the last n lines of containerd's output.
func (c *Containerd) Log(n int) string {
	raw, _ := os.ReadFile(c.logPath)
	return tail(raw, n)
}

// overlayWorks tries an overlay mount in dir: containerd's overlayfs
// snapshotter needs one there.
func overlayWorks(dir string) bool {
	base, err := os.MkdirTemp(dir, "overlay-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(base)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if os.Mkdir(filepath.Join(base, d), 0o755) != nil {
			return false
		}
	}
	merged := filepath.Join(base, "merged")
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", base, base, base)
	if syscall.Mount("overlay", merged, "overlay", 0, opts) != nil {
		return false
	}
	_ = syscall.Unmount(merged, syscall.MNT_DETACH)
	return true
}

func (c *Containerd) close() {
	var leaks []string
	ids := c.shimIDs()
	running := c.done != nil
	if running {
		select {
		case <-c.done:
			running = false
		default:
		}
	}
	if running {
		// The CRI's own teardown first: CNI DEL, shims and their sockets.
		if out, err := c.Crictl("rmp", "-fa"); err != nil {
			c.w.t.Logf("crictl rmp -fa: %v\n%s", err, out)
		}
	}
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	// A shim exits on its own once its last container is removed; one
	// still there after that is a leak, killed by its pid.
	var shims []int
	Wait(5*time.Second, func() bool { shims = c.shimPids(); return len(shims) == 0 })
	for _, pid := range shims {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		leaks = append(leaks, fmt.Sprintf("shim pid %d", pid))
	}
	// The pods' cgroups, in every hierarchy, deepest first, after killing
	// whatever still runs in them.
	hiers, _ := filepath.Glob("/sys/fs/cgroup/*" + c.Parent)
	if root, err := loader.Cgroup2Root(); err == nil && !slices.Contains(hiers, filepath.Join(root, c.Parent)) {
		hiers = append(hiers, filepath.Join(root, c.Parent))
	}
	for _, h := range hiers {
		if pids := cgroupPids(h); len(pids) > 0 {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			leaks = append(leaks, fmt.Sprintf("processes %v in %s", pids, h))
		}
	}
	for _, h := range hiers {
		removeTree(h)
		if exists(h) {
			leaks = append(leaks, "cgroup "+h)
		}
	}
	// Its mounts under its dir (rootfs, shm, netns), deepest first; the
	// daemon's, elsewhere in the world's dir, go with the world.
	mounts := MountsUnder(c.dir)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			c.w.t.Logf("unmount %s: %v", m, err)
		}
	}
	// The shims' sockets under /run/containerd: the shim of a pod removes
	// its own when it exits.
	for _, id := range append(ids, c.shimIDs()...) {
		sock := c.shimSocket(id)
		if exists(sock) {
			_ = os.Remove(sock)
			leaks = append(leaks, "shim socket "+sock)
		}
	}
	if !c.hadS {
		removeIfEmpty(ctrdShimDir)
	}
	if !c.hadRun {
		removeIfEmpty(ctrdRun)
		if exists(ctrdRun) {
			leaks = append(leaks, ctrdRun+" holds "+strings.Join(dirNames(ctrdRun), ","))
		}
	}
	if !c.hadLib && exists(ctrdLib) {
		leaks = append(leaks, ctrdLib)
	}
	// libcni's cache entries of this world's pods: named by a pod's ID
	// (cni-loopback's too), or of a config naming the world's daemon.
	ids = append(ids, c.shimIDs()...)
	c.cache.tidy(c.w.t, "containerd", func(path string) bool { return c.ownsCacheEntry(path, ids) })
	if len(leaks) > 0 {
		c.w.t.Logf("containerd log:\n%s", c.Log(40))
		c.w.t.Fatalf("containerd left behind: %s", strings.Join(leaks, "; "))
	}
}

// shimIDs are the IDs a shim of this containerd may serve: its pods and
// containers, from its root and state dirs.
func (c *Containerd) shimIDs() []string {
	var ids []string
	for _, d := range []string{
		filepath.Join(c.dir, "root", "io.containerd.grpc.v1.cri", "sandboxes"),
		filepath.Join(c.dir, "root", "io.containerd.grpc.v1.cri", "containers"),
		filepath.Join(c.dir, "state", "io.containerd.runtime.v2.task", "k8s.io"),
	} {
		ids = append(ids, dirNames(d)...)
	}
	return ids
}

// shimSocket is where containerd 1.6's runc shim of id listens:
// /run/containerd/s/ and the sha256 of containerd's address, the
// namespace and the id (runtime/v2/shim.SocketAddress).
func (c *Containerd) shimSocket(id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(c.Socket, "k8s.io", id)))
	return filepath.Join(ctrdShimDir, hex.EncodeToString(sum[:]))
}

// ownsCacheEntry tells whether a libcni cache entry is of one of ids or
// of a conflist naming this world's daemon socket.
func (c *Containerd) ownsCacheEntry(path string, ids []string) bool {
	for _, id := range ids {
		if strings.Contains(filepath.Base(path), "-"+id+"-") {
			return true
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var entry struct {
		Config []byte `json:"config"` // base64 in the file
	}
	if json.Unmarshal(raw, &entry) != nil {
		return false
	}
	return bytes.Contains(entry.Config, []byte(strconv.Quote(c.w.Socket)))
}

// shimPids are the runc shims serving this containerd: their command
// line names its socket.
func (c *Containerd) shimPids() []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for _, a := range args {
			if strings.HasPrefix(a, c.dir+"/") || a == c.Socket {
				if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// cgroupPids are the processes in a cgroup tree.
func cgroupPids(dir string) []int {
	var pids []int
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		raw, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
