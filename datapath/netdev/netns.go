package netdev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named namespaces live, as `ip netns` expects.
const NetnsDir = "/run/netns"

// ensureNetnsDir makes /run/netns a shared mount point the way `ip netns
// add` does, so namespace mounts propagate to every mount namespace.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s: %w", NetnsDir, err)
		}
		err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	return nil
}

// CreateNetns creates a new network namespace at path under /run/netns,
// usable with `ip netns exec NAME`.
func (Netlink) CreateNetns(path string) error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	return createNetnsAt(path)
}

// createNetnsAt creates a new network namespace and bind-mounts it at
// path.
func createNetnsAt(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, os.ErrExist) {
		// A file no namespace is mounted on: left by a crash between the
		// two steps below. Take it over.
		if _, nsErr := NetnsIno(path); nsErr != nil {
			f, err = os.OpenFile(path, os.O_RDONLY, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("create netns file %s: %w", path, err)
	}
	_ = f.Close() // opened only to create it
	errc := make(chan error, 1)
	go func() {
		// The thread is left in the new namespace and, still locked when
		// the goroutine ends, is destroyed by the runtime.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare netns: %w", err)
			return
		}
		if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind mount netns to %s: %w", path, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return errors.Join(err, removeFile(path))
	}
	return nil
}

// DeleteNetns undoes CreateNetns. The namespace itself goes when its last
// process leaves.
func (Netlink) DeleteNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	return removeFile(path)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns file %s: %w", path, err)
	}
	return nil
}

// NetnsIno identifies the network namespace behind a path.
func NetnsIno(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, err
	}
	if fs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s is not a network namespace", path)
	}
	return st.Ino, nil
}

// NetnsIno is the package's NetnsIno, for callers holding a Netlink.
func (Netlink) NetnsIno(path string) (uint64, error) { return NetnsIno(path) }

// openNetns opens a namespace by path and checks it is a network one.
func openNetns(path string) (netns.NsHandle, error) {
	if _, err := NetnsIno(path); err != nil {
		return netns.None(), err
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return netns.None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	return h, nil
}

// inNetns runs fn on a thread inside ns. The thread is thrown away after,
// so nothing else ever runs in the wrong namespace.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// WriteSysctl sets a /proc/sys value in the calling thread's namespace.
func WriteSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", filepath.FromSlash(key))
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// atNetns runs fn with a netlink handle in the namespace at path, and
// the namespace itself.
func atNetns(path string, fn func(h *netlink.Handle, ns netns.NsHandle) error) error {
	ns, err := openNetns(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in netns: %w", err)
	}
	defer h.Close()
	return fn(h, ns)
}

// NetnsCookie is the kernel's cookie of the network namespace behind a
// path, as bpf_get_netns_cookie gives it to the socket programs.
func NetnsCookie(path string) (uint64, error) {
	ns, err := openNetns(path)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	var cookie uint64
	err = inNetns(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open socket: %w", err)
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns cookie of %s: %w", path, err)
	}
	return cookie, nil
}
