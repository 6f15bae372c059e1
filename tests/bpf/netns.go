package bpftest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewNetns creates a network namespace and runs setup inside it. Programs
// that ask the kernel's FIB need one: bpf_fib_lookup answers from the netns
// of the thread running BPF_PROG_RUN. The namespace has no name, so nothing
// of it outlives the handle, which is closed when the test ends.
func NewNetns(t testing.TB, setup func() error) netns.NsHandle {
	t.Helper()
	type result struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		// The thread stays locked, so the runtime throws it away when the
		// goroutine ends and nothing else ever runs in this namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			c <- result{netns.None(), fmt.Errorf("unshare netns: %w", err)}
			return
		}
		ns, err := netns.Get()
		if err != nil {
			c <- result{netns.None(), fmt.Errorf("open new netns: %w", err)}
			return
		}
		c <- result{ns, setup()}
	}()
	r := <-c
	if r.ns.IsOpen() {
		t.Cleanup(func() { r.ns.Close() })
	}
	if r.err != nil {
		t.Fatalf("set up netns: %v", r.err)
	}
	return r.ns
}

// EnterNetns moves the test's goroutine, locked to its thread, into ns for
// the rest of the test. The thread is never unlocked: when the test's
// goroutine ends the runtime discards it rather than reuse a thread that is
// in the wrong namespace.
func EnterNetns(t testing.TB, ns netns.NsHandle) {
	t.Helper()
	runtime.LockOSThread()
	if err := netns.Set(ns); err != nil {
		t.Fatalf("enter netns: %v", err)
	}
}
