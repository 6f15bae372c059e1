package bpftest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
)

// BPF_PROG_RUN cannot run cgroup sock_addr programs (6.18 answers
// ENOTSUPP), so the socket tests run them for real: attached to a cgroup
// of their own that holds nothing but the client processes they start,
// in network namespaces of their own.

// sockNetns is a network namespace for socket clients: addrs on its
// loopback, and servers listening on tcp and udp addresses that answer
// with the address they were reached at.
type sockNetns struct {
	ns     netns.NsHandle
	cookie uint64 // the kernel's netns cookie
}

func newSockNetns(t *testing.T, addrs, tcp, udp []string) sockNetns {
	t.Helper()
	var s sockNetns
	s.ns = NewNetns(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		for _, a := range addrs {
			if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(a)}); err != nil {
				return fmt.Errorf("address lo %s: %w", a, err)
			}
		}
		// Ping sockets are for the groups in this range; root's is 0.
		if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 0"), 0o644); err != nil {
			return fmt.Errorf("allow ping sockets: %w", err)
		}
		if s.cookie, err = loader.NetnsCookie(); err != nil {
			return err
		}
		return serve(t, tcp, udp)
	})
	return s
}

// serve starts the servers in the calling thread's netns. The test
// process is outside the clients' cgroup, so the socket programs never
// see the servers' sockets.
func serve(t *testing.T, tcp, udp []string) error {
	for _, a := range tcp {
		l, err := net.Listen("tcp4", a)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.LocalAddr().String()))
				c.Close()
			}
		}()
	}
	for _, a := range udp {
		c, err := net.ListenPacket("udp4", a)
		if err != nil {
			return fmt.Errorf("listen on udp %s: %w", a, err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 512)
			for {
				_, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				c.WriteTo([]byte(c.LocalAddr().String()), from)
			}
		}()
	}
	return nil
}

// clientCgroup makes a cgroup below the cgroup2 root, attaches the
// socket programs of d to it, and returns a descriptor that starts a
// process inside it (CLONE_INTO_CGROUP). The programs are detached and
// the cgroup removed when the test ends.
func clientCgroup(t *testing.T, d *Datapath) int {
	t.Helper()
	root, err := loader.Cgroup2Root()
	if err != nil {
		t.Skipf("socket tests need cgroup v2: %v", err)
	}
	cg, err := os.MkdirTemp(root, "enet-socktest-")
	if err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cg); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open cgroup: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	for _, h := range loader.SockHooks {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: h.Attach, Program: h.Prog(d.Datapath)})
		if err != nil {
			t.Fatalf("attach %s to %s: %v", h.Name, cg, err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return fd
}

// runClient runs ops in a client process started in ns and in the cgroup
// of cgroupFD, and returns their results. The process is the test binary
// (see TestMain), forked from a thread that entered ns, whose namespace
// it inherits.
func runClient(t *testing.T, ns netns.NsHandle, cgroupFD int, ops []sockOp) []sockResult {
	t.Helper()
	arg, err := json.Marshal(ops)
	must(t, err)
	exe, err := os.Executable()
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), sockClientEnv+"="+string(arg))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime discards the thread, which is in
		// the wrong namespace, when the goroutine ends.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			started <- fmt.Errorf("enter netns: %w", err)
			return
		}
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		t.Fatalf("start client: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v: %s", err, stderr.Bytes())
	}
	var res []sockResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != len(ops) {
		t.Fatalf("client said %q (%v), want %d results", stdout.Bytes(), err, len(ops))
	}
	return res
}
