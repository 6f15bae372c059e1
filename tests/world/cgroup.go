package world

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// The daemon's socket programs run for every process of the cgroup they
// attach to, the cgroup2 root by default. A world gives its daemon a
// throwaway child cgroup instead, and runs the node-side clients that must
// be rewritten inside it, so no other process of the machine ever meets
// the programs.

// newCgroup creates the world's child cgroup and opens it for
// CLONE_INTO_CGROUP.
func newCgroup(id string) (string, *os.File, error) {
	root, err := loader.Cgroup2Root()
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(root, "ebpfnet-"+id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("create cgroup: %w", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		_ = os.Remove(dir)
		return "", nil, fmt.Errorf("open cgroup: %w", err)
	}
	return dir, f, nil
}

// removeCgroup removes the child cgroup once the processes run in it have
// exited; rmdir fails while one is left.
func (w *World) removeCgroup() {
	if w.cgroupFD != nil {
		_ = w.cgroupFD.Close()
	}
	if w.Cgroup == "" {
		return
	}
	Wait(5*time.Second, func() bool {
		err := os.Remove(w.Cgroup)
		return err == nil || errors.Is(err, os.ErrNotExist)
	})
}

// CgroupCmd is Cmd started inside the world's cgroup, where the daemon's
// socket programs apply: the node's own clients of published ports.
func (w *World) CgroupCmd(netns string, argv ...string) *exec.Cmd {
	cmd := w.Cmd(netns, argv...)
	w.IntoCgroup(cmd)
	return cmd
}

// IntoCgroup makes cmd start inside the world's cgroup, keeping whatever
// else its SysProcAttr asks for.
func (w *World) IntoCgroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(w.cgroupFD.Fd())
}
