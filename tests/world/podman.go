package world

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Podman is Debian's podman run for a world: every dir it keeps under the
// world's temp dir, the runc runtime (crun refuses the hybrid cgroup
// layout some machines have), cgroupfs under a cgroup parent of the
// world's own, and containers started from a rootfs of busybox-static
// (no registry is reachable, and a rootfs needs no image store). Close
// removes its containers, cgroups and what it made outside the temp dir.
type Podman struct {
	w      *World
	dir    string
	Rootfs string
	parent string   // cgroup parent, below every hierarchy's root
	hadRun bool     // /run/containers was there before
	netDir string   // --network-config-dir
	cni    *cniMode // set by PodmanCNI
}

// Podman readies podman for the world; Close of the world removes what it
// made.
func (w *World) Podman() *Podman {
	w.t.Helper()
	p := &Podman{w: w, dir: filepath.Join(w.Dir, "podman"), parent: "/ebpfnet-" + w.ID + "-pod"}
	p.netDir = filepath.Join(p.dir, "net")
	_, err := os.Stat("/run/containers")
	p.hadRun = err == nil
	p.Rootfs = filepath.Join(p.dir, "rootfs")
	if err := busyboxRootfs(p.Rootfs); err != nil {
		w.t.Fatalf("podman rootfs: %v", err)
	}
	w.t.Cleanup(p.close)
	return p
}

// busyboxRootfs is a root filesystem of busybox-static's applets, with an
// index.html for its httpd.
func busyboxRootfs(dir string) error {
	for _, d := range []string{"bin", "tmp", "etc", "proc", "sys", "dev", "www"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	raw, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), raw, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "sleep", "httpd", "nc", "cat", "echo", "ip", "wget"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "www/index.html"), []byte("hello from podman\n"), 0o644)
}

// Cmd is podman with the world's dirs and options, run in the node. In
// CNI mode it reads the world's containers.conf (CONTAINERS_CONF), and its
// network config dir is the conflists' dir.
func (p *Podman) Cmd(args ...string) *exec.Cmd {
	base := []string{"podman", "--root", filepath.Join(p.dir, "root"), "--runroot", filepath.Join(p.dir, "run"),
		"--tmpdir", filepath.Join(p.dir, "tmp"), "--network-config-dir", p.netDir,
		"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--storage-driver", "vfs", "--runtime", "runc"}
	cmd := p.w.Cmd(p.w.Node, append(base, args...)...)
	if p.cni != nil {
		cmd.Env = append(cmd.Env, "CONTAINERS_CONF="+p.cni.conf)
	}
	return cmd
}

// Exec runs podman and returns its output.
func (p *Podman) Exec(args ...string) (string, error) {
	out, err := p.Cmd(args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Run starts a detached container with no network of podman's (its own
// empty namespace, which ebpfnet adopts) running argv from the rootfs,
// and returns the pid of its first process.
func (p *Podman) Run(name string, argv ...string) int {
	p.w.t.Helper()
	args := append([]string{"run", "-d", "--name", name, "--network", "none", "--cgroup-parent", p.parent,
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--rootfs", p.Rootfs}, argv...)
	if out, err := p.Exec(args...); err != nil {
		p.w.t.Fatalf("%v\n%s", err, out)
	}
	return p.Pid(name)
}

// Pid is the pid of a running container's first process.
func (p *Podman) Pid(name string) int {
	p.w.t.Helper()
	out, err := p.Exec("inspect", "-f", "{{.State.Pid}}", name)
	pid, perr := strconv.Atoi(out)
	if err != nil || perr != nil || pid <= 0 {
		p.w.t.Fatalf("pid of container %s: %v %q", name, err, out)
	}
	return pid
}

func (p *Podman) close() {
	if p.cni != nil {
		p.cni.collect(p)
	}
	if out, err := p.Exec("rm", "-af", "-t", "0"); err != nil {
		p.w.t.Logf("podman rm: %v\n%s", err, out)
	}
	if p.cni != nil {
		p.cni.close(p)
	}
	// Its cgroups, in every hierarchy, deepest first.
	hiers, _ := filepath.Glob("/sys/fs/cgroup/*" + p.parent)
	if root, err := loader.Cgroup2Root(); err == nil {
		hiers = append(hiers, filepath.Join(root, p.parent))
	}
	for _, h := range hiers {
		removeTree(h)
	}
	if !p.hadRun {
		_ = os.Remove("/run/containers/networks")
		_ = os.Remove("/run/containers")
	}
}

// removeTree removes an empty cgroup tree, children first.
func removeTree(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		Wait(5*time.Second, func() bool {
			err := os.Remove(dirs[i])
			return err == nil || errors.Is(err, os.ErrNotExist)
		})
	}
}
