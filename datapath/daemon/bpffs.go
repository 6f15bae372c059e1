package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// sysBPF is the machine's bpffs.
const sysBPF = "/sys/fs/bpf"

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

// ensureBPFFS makes dir a directory on a bpf filesystem, mounting one if
// there is none: at /sys/fs/bpf for dirs below it (sysfs allows no
// directories there), else at dir itself. It reports whether it mounted.
func ensureBPFFS(dir string) (bool, error) {
	dir = filepath.Clean(dir)
	mounted := false
	if strings.HasPrefix(dir, sysBPF+"/") && !isBPFFS(sysBPF) {
		if err := unix.Mount("bpffs", sysBPF, "bpf", 0, "mode=0700"); err != nil {
			return false, fmt.Errorf("mount bpffs at %s: %w", sysBPF, err)
		}
		mounted = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return mounted, fmt.Errorf("create bpffs dir %s: %w", dir, err)
	}
	if !isBPFFS(dir) {
		if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
			return mounted, fmt.Errorf("mount bpffs at %s: %w", dir, err)
		}
		mounted = true
	}
	return mounted, nil
}
