package control

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// threadInNewNetns keeps a thread in a network namespace of its own for
// the test and returns the namespace's path.
func threadInNewNetns(t *testing.T) string {
	t.Helper()
	tid, done := make(chan int), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			tid <- -1
			return
		}
		tid <- unix.Gettid()
		<-done
	}()
	id := <-tid
	if id < 0 {
		t.Skip("cannot create a network namespace")
	}
	t.Cleanup(func() { close(done) })
	return fmt.Sprintf("/proc/self/task/%d/ns/net", id)
}

// TestPlanNetnsRefusesOwn: the daemon's namespace is the one it recorded,
// not /proc/self/ns/net, which follows the main thread wherever a goroutine
// locked to it left it: here the daemon's is whichever of two namespaces
// the main thread is not in.
func TestPlanNetnsRefusesOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("test requires root")
	}
	daemon, other := threadInNewNetns(t), "/proc/thread-self/ns/net"
	p := planner{dev: netdev.Netlink{}}
	if p.sameNetns(daemon, mustIno(t, "/proc/self/ns/net")) {
		daemon, other = other, daemon // the runtime ran the new thread's goroutine on the main thread
	}
	p.cfg.OwnNetns = mustIno(t, daemon)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(func(tx *store.Tx) error { return p.netns(tx, &store.Endpoint{Name: "x"}, daemon) })
	if api.Code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "daemon's own") {
		t.Fatalf("adopting the daemon's own netns: %v", err)
	}
	ep := &store.Endpoint{Name: "x"}
	err = st.View(func(tx *store.Tx) error { return p.netns(tx, ep, other) })
	if err != nil || ep.Netns != other || ep.OwnNetns {
		t.Fatalf("adopting another netns: %v, %+v", err, ep)
	}
}

func mustIno(t *testing.T, path string) uint64 {
	t.Helper()
	ino, err := netdev.NetnsIno(path)
	if err != nil {
		t.Fatal(err)
	}
	return ino
}
