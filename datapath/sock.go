package datapath

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// soNetnsCookie is SO_NETNS_COOKIE (Linux 5.14), not in x/sys yet.
const soNetnsCookie = 71

// netnsCookie is the kernel's cookie for the daemon's network namespace,
// which the socket programs compare against to act only here.
func netnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("open socket: %w", err)
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, soNetnsCookie)
	if err != nil {
		return 0, fmt.Errorf("read netns cookie: %w", err)
	}
	return c, nil
}

// cgroup2Root is where the unified cgroup hierarchy is mounted, read from
// /proc/mounts: it is /sys/fs/cgroup on most machines, not all.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[2] == "cgroup2" {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("no cgroup2 filesystem is mounted")
}

// setupSockets scopes the socket programs to this namespace and attaches
// them to the cgroup (all processes below it; the root by default).
func (m *Manager) setupSockets() error {
	cookie, err := netnsCookie()
	if err != nil {
		return err
	}
	cfg, err := m.maps.Config.Get()
	if err != nil {
		return err
	}
	cfg.NetnsCookie = cookie
	if err := m.maps.Config.Set(cfg); err != nil {
		return err
	}
	cg := m.cfg.Cgroup
	if cg == "" {
		if cg, err = cgroup2Root(); err != nil {
			return err
		}
	}
	if err := m.dp.AttachCgroup(cg); err != nil {
		return err
	}
	m.log.Info("socket programs attached", zapStr("cgroup", cg))
	return nil
}
