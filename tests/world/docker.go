package world

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Docker is Debian's docker.io (20.10) run for a world: dockerd in the
// node's netns and in a mount namespace of its own (held by a sleeping
// keeper process, so a dockerd started again finds it), where a tmpfs covers
// /run (its containerd's shim sockets, /run/docker) and the world's
// plugin dir is bound on /run/docker/plugins, the one place dockerd
// looks for plugin sockets; its data root, exec root (the sandboxes'
// netns mounts), config and API socket are under the world's temp dir;
// cgroupfs under a cgroup parent of the world's own. One image,
// busybox-static's files, imported with `docker import`, since no
// registry is reachable.
//
// Everything dockerd and its containers mount lives in its mount
// namespace, which goes with its last process; Close removes the
// containers, stops dockerd, kills what is left in that namespace and
// in the cgroups, and removes the cgroups.
type Docker struct {
	w       *World
	dir     string
	Socket  string // dockerd's API socket
	Plugins string // bound on /run/docker/plugins in dockerd's view
	Image   string
	Parent  string // the containers' cgroup parent
	Args    []string
	cmd     *exec.Cmd
	done    chan struct{}
	keeper  *exec.Cmd // holds dockerd's mount namespace
	ctrd    *exec.Cmd // its containerd
	mntNS   string    // dockerd's mount namespace, as /proc/PID/ns/mnt reads
	logPath string
}

// DockerImage is the busybox image every Docker of a world imports.
const DockerImage = "ebpfnet-busybox:test"

// dockerBin is Debian's client, of dockerd's own version.
const dockerBin = "/usr/bin/docker"

// NewDocker prepares a Docker for the world, without starting it: the
// daemon's --docker-plugin-socket must be in Plugins before dockerd
// looks for the driver.
func (w *World) NewDocker() *Docker {
	w.t.Helper()
	d := &Docker{w: w, dir: filepath.Join(w.Dir, "docker"), Image: DockerImage,
		Parent: "/ebpfnet-" + w.ID + "-docker"}
	d.Socket = filepath.Join(d.dir, "docker.sock")
	d.Plugins = filepath.Join(d.dir, "plugins")
	d.logPath = filepath.Join(d.dir, "dockerd.log")
	for _, sub := range []string{"plugins", "etc", "data", "exec"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			w.t.Fatalf("docker: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.dir, "etc", "daemon.json"), []byte("{}\n"), 0o600); err != nil {
		w.t.Fatalf("docker: %v", err)
	}
	w.t.Cleanup(d.close)
	return d
}

// PluginSocket is where the daemon's driver must listen for dockerd to
// find it as driver "ebpfnet".
func (d *Docker) PluginSocket() string { return filepath.Join(d.Plugins, "ebpfnet.sock") }

// Start starts dockerd with extra flags, waits for its API and imports
// the image the first time.
func (d *Docker) Start(extra ...string) {
	d.w.t.Helper()
	d.Args = extra
	if d.keeper == nil {
		d.startKeeper()
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.w.t.Fatalf("dockerd log: %v", err)
	}
	defer logf.Close()
	// nsenter execs dockerd: the pid is dockerd's.
	args := append([]string{"dockerd", "--containerd", d.containerdSock(),
		"--data-root", filepath.Join(d.dir, "data"), "--exec-root", filepath.Join(d.dir, "exec"),
		"-H", "unix://" + d.Socket, "--pidfile", filepath.Join(d.dir, "docker.pid"),
		"--config-file", filepath.Join(d.dir, "etc", "daemon.json"),
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", d.Parent}, extra...)
	d.cmd = d.inNS(args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		d.w.t.Fatalf("start dockerd: %v", err)
	}
	done := make(chan struct{})
	d.done = done
	go func() { _ = d.cmd.Wait(); close(done) }()
	ready := Wait(30*time.Second, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		_, err := d.CLI("version")
		return err == nil
	})
	if !ready || d.exited() {
		d.w.t.Fatalf("dockerd not ready in 30s:\n%s", d.Log(40))
	}
	if _, err := d.CLI("image", "inspect", d.Image); err != nil {
		d.importImage()
	}
}

// startKeeper makes dockerd's mount namespace and keeps it for every
// dockerd the test starts, as the machine's one namespace would be: a
// dockerd started again finds its sandboxes' netns mounts.
func (d *Docker) startKeeper() {
	d.w.t.Helper()
	script := strings.Join([]string{
		// /etc/docker is docker.io's; dockerd 20.10 writes key.json there
		// whatever its flags, so the world's dir is bound over it. Made
		// here, it would be left on the machine.
		"set -e", "test -d /etc/docker || { echo 'no /etc/docker: is docker.io installed?'; exit 1; }",
		"mount -t tmpfs tmpfs /run", "mkdir -p /run/docker/plugins",
		"mount --bind " + strconv.Quote(d.Plugins) + " /run/docker/plugins",
		"mount --bind " + strconv.Quote(filepath.Join(d.dir, "etc")) + " /etc/docker",
		"echo ready", "exec sleep infinity",
	}, "\n")
	d.keeper = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	out, err := d.keeper.StdoutPipe()
	if err != nil {
		d.w.t.Fatalf("docker mount namespace: %v", err)
	}
	d.keeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.keeper.Start(); err != nil {
		d.w.t.Fatalf("docker mount namespace: %v", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		d.w.t.Fatalf("docker mount namespace: %q %v", line, err)
	}
	go func() { _ = d.keeper.Wait() }()
	if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", d.keeper.Process.Pid)); err == nil {
		d.mntNS = ns
	}
	d.startContainerd()
}

// inNS is a command in the node's netns and dockerd's mount namespace.
func (d *Docker) inNS(argv ...string) *exec.Cmd {
	args := append([]string{"--net=/run/netns/" + d.w.Node,
		"--mount=/proc/" + strconv.Itoa(d.keeper.Process.Pid) + "/ns/mnt", "--"}, argv...)
	cmd := exec.Command("nsenter", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// startContainerd starts dockerd's containerd as its own service, as
// Debian runs it (dockerd --containerd): a dockerd killed with -9 leaves
// it, and the containers, running.
func (d *Docker) startContainerd() {
	d.w.t.Helper()
	q := strconv.Quote
	dir := filepath.Join(d.dir, "containerd")
	conf := strings.Join([]string{
		"version = 2",
		"root = " + q(filepath.Join(dir, "root")),
		"state = " + q(filepath.Join(dir, "state")),
		"disabled_plugins = [" + strings.Join([]string{q("io.containerd.grpc.v1.cri"), q("io.containerd.internal.v1.opt"),
			q("io.containerd.snapshotter.v1.aufs"), q("io.containerd.snapshotter.v1.btrfs"),
			q("io.containerd.snapshotter.v1.zfs"), q("io.containerd.snapshotter.v1.devmapper"),
			q("io.containerd.tracing.processor.v1.otlp")}, ", ") + "]",
		"[grpc]", "  address = " + q(d.containerdSock()),
		"[ttrpc]", "  address = " + q(d.containerdSock()+".ttrpc"),
		"[debug]", `  address = ""`, "[metrics]", `  address = ""`, "",
	}, "\n")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.w.t.Fatalf("containerd: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o600); err != nil {
		d.w.t.Fatalf("containerd: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		d.w.t.Fatalf("containerd: %v", err)
	}
	defer logf.Close()
	d.ctrd = d.inNS("containerd", "--config", filepath.Join(dir, "config.toml"))
	d.ctrd.Stdout, d.ctrd.Stderr = logf, logf
	if err := d.ctrd.Start(); err != nil {
		d.w.t.Fatalf("start containerd: %v", err)
	}
	go func() { _ = d.ctrd.Wait() }()
	if !Wait(20*time.Second, func() bool { return exists(d.containerdSock()) }) {
		d.w.t.Fatalf("containerd did not start")
	}
}

func (d *Docker) containerdSock() string {
	return filepath.Join(d.dir, "containerd", "containerd.sock")
}

func (d *Docker) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

func (d *Docker) importImage() {
	d.w.t.Helper()
	layer, err := busyboxLayer()
	if err != nil {
		d.w.t.Fatalf("busybox image: %v", err)
	}
	cmd := exec.Command(dockerBin, "-H", "unix://"+d.Socket, "import", "--change", "ENV PATH=/bin", "-", d.Image)
	cmd.Stdin = bytes.NewReader(layer)
	if out, err := cmd.CombinedOutput(); err != nil {
		d.w.t.Fatalf("docker import: %v: %s", err, out)
	}
}

// CLI runs the docker client against this dockerd.
func (d *Docker) CLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerBin, append([]string{"-H", "unix://" + d.Socket}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Must is CLI that fails the test on error.
func (d *Docker) Must(args ...string) string {
	d.w.t.Helper()
	out, err := d.CLI(args...)
	if err != nil {
		d.w.t.Fatalf("%v\ndockerd log:\n%s", err, d.Log(20))
	}
	return out
}

// Pid is a running container's init process.
func (d *Docker) Pid(container string) int {
	d.w.t.Helper()
	pid, err := strconv.Atoi(d.Must("inspect", "-f", "{{.State.Pid}}", container))
	if err != nil || pid <= 0 {
		d.w.t.Fatalf("pid of %s: %d %v", container, pid, err)
	}
	return pid
}

// InContainer runs argv (a program of the machine's) in a container's
// network namespace.
func (d *Docker) InContainer(container string, argv ...string) (string, error) {
	args := append([]string{"-t", strconv.Itoa(d.Pid(container)), "-n", "--"}, argv...)
	out, err := exec.Command("nsenter", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), container, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Stop stops dockerd: SIGTERM, or SIGKILL when kill is set, which leaves
// its containerd and the containers running.
func (d *Docker) Stop(kill bool) {
	d.w.t.Helper()
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.w.t.Fatalf("dockerd did not stop on %v", sig)
	}
}

// Log is the last n lines of dockerd's output.
func (d *Docker) Log(n int) string {
	raw, _ := os.ReadFile(d.logPath)
	return tail(raw, n)
}

func (d *Docker) close() {
	var leaks []string
	if d.cmd != nil && !d.exited() && d.keeper != nil {
		if ids, err := d.CLI("ps", "-aq"); err == nil && ids != "" {
			if out, err := d.CLI(append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
				d.w.t.Logf("docker rm -f: %v\n%s", err, out)
			}
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	if d.ctrd != nil && d.ctrd.Process != nil {
		_ = d.ctrd.Process.Signal(syscall.SIGTERM)
	}
	// What is left in its mount namespace (the keeper, and its
	// containerd and the shims after a SIGKILL) goes by pid; with it, the
	// namespace and its mounts.
	if d.mntNS != "" {
		var pids []int
		Wait(5*time.Second, func() bool { pids = pidsInMntNS(d.mntNS); return len(pids) == 0 })
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if !Wait(5*time.Second, func() bool { return len(pidsInMntNS(d.mntNS)) == 0 }) {
			leaks = append(leaks, fmt.Sprintf("processes %v in dockerd's mount namespace", pidsInMntNS(d.mntNS)))
		}
	}
	hiers, _ := filepath.Glob("/sys/fs/cgroup/*" + d.Parent)
	if root, err := loader.Cgroup2Root(); err == nil && !slices.Contains(hiers, filepath.Join(root, d.Parent)) {
		hiers = append(hiers, filepath.Join(root, d.Parent))
	}
	for _, h := range hiers {
		for _, pid := range cgroupPids(h) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			leaks = append(leaks, fmt.Sprintf("process %d in %s", pid, h))
		}
	}
	for _, h := range hiers {
		Wait(5*time.Second, func() bool { removeTree(h); return !exists(h) })
		if exists(h) {
			leaks = append(leaks, "cgroup "+h)
		}
	}
	if len(leaks) > 0 {
		d.w.t.Logf("dockerd log:\n%s", d.Log(40))
		d.w.t.Fatalf("docker left behind: %s", strings.Join(leaks, "; "))
	}
}

// pidsInMntNS are the processes in a mount namespace.
func pidsInMntNS(ns string) []int {
	var pids []int
	links, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && target == ns {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(l)))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// ConfigDir holds dockerd's daemon.json.
func (d *Docker) ConfigDir() string { return filepath.Join(d.dir, "etc") }

// Processes are the pids of the programs named comm in dockerd's mount
// namespace: its docker-proxy processes, say.
func (d *Docker) Processes(comm string) []int {
	var out []int
	for _, pid := range pidsInMntNS(d.mntNS) {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(raw)) == comm {
			out = append(out, pid)
		}
	}
	return out
}
