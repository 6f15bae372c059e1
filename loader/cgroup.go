package loader

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// SockHook is one of the socket programs and the cgroup hook it runs on.
type SockHook struct {
	Name   string // pin name under links/
	Attach ebpf.AttachType
	Prog   func(*Datapath) *ebpf.Program
}

// SockHooks are the node's socket-level rewrites for published ports.
var SockHooks = []SockHook{
	{"cgroup_connect4", ebpf.AttachCGroupInet4Connect, func(dp *Datapath) *ebpf.Program { return dp.EnetSockConn4 }},
	{"cgroup_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, func(dp *Datapath) *ebpf.Program { return dp.EnetSockSend4 }},
	{"cgroup_recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, func(dp *Datapath) *ebpf.Program { return dp.EnetSockRecv4 }},
	{"cgroup_getpeername4", ebpf.AttachCgroupInet4GetPeername, func(dp *Datapath) *ebpf.Program { return dp.EnetSockPeer4 }},
}

// AttachCgroup puts the socket programs on a cgroup (v2) as pinned links,
// or swaps the programs of links pinned before with link.Update.
func (dp *Datapath) AttachCgroup(cgroup string) error {
	if err := os.MkdirAll(filepath.Join(dp.PinDir, LinkDir), 0o700); err != nil {
		return fmt.Errorf("create link pin dir: %w", err)
	}
	for _, h := range SockHooks {
		if err := dp.attachCgroupHook(cgroup, h); err != nil {
			return err
		}
	}
	return nil
}

func (dp *Datapath) attachCgroupHook(cgroup string, h SockHook) error {
	pin := filepath.Join(dp.PinDir, LinkDir, h.Name)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if err := l.Update(h.Prog(dp)); err != nil {
			return fmt.Errorf("update %s link: %w", h.Name, err)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open pinned link %s: %w", pin, err)
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: h.Attach, Program: h.Prog(dp)})
	if err != nil {
		return fmt.Errorf("attach %s to cgroup %s: %w", h.Name, cgroup, err)
	}
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin %s link: %w", h.Name, err)
	}
	return nil
}

// soNetnsCookie is SO_NETNS_COOKIE (Linux 5.14), not in x/sys yet.
const soNetnsCookie = 71

// NetnsCookie is the kernel's cookie for the calling thread's network
// namespace: the socket programs act only where config.netns_cookie says.
func NetnsCookie() (uint64, error) {
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

// Cgroup2Root is where the unified cgroup hierarchy is mounted, read from
// /proc/mounts: it is /sys/fs/cgroup on most machines, not all.
func Cgroup2Root() (string, error) {
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
