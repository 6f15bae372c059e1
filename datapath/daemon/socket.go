package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// socketDir makes the socket's directory, and refuses one where another
// user could put a socket of theirs in place of the daemon's: every
// directory up to / must be root's and writable by no one else, unless it
// is sticky (as /tmp), where only root can remove root's socket.
func socketDir(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("resolve socket dir: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("check socket dir: %w", err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
			return fmt.Errorf("the API socket would not be root-only: %s is owned by uid %d, "+
				"who could replace it", d, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("the API socket would not be root-only: %s is writable by group or others "+
				"(mode %o), who could replace it", d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// listenSocket opens the API socket for root only, refusing to go on when
// another daemon answers on it or the mode cannot be made 0600.
func listenSocket(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close() // a probe: it only had to connect
		return nil, fmt.Errorf("another ebpfnet daemon answers on %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// Run removes the socket last, after the store is closed: clients
	// waiting for it to go rely on that. Unlinked on close, it would go
	// when the server starts shutting down.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := rootOnly(path); err != nil {
		return nil, errors.Join(err, l.Close(), os.Remove(path))
	}
	return l, nil
}

// rootOnly makes the socket 0600 and checks that it is, and root's.
func rootOnly(path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("make the API socket root-only: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check the API socket: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check the API socket: no owner in %T", fi.Sys())
	}
	if st.Uid != 0 || fi.Mode().Perm() != 0o600 {
		return fmt.Errorf("the API socket %s could not be made root-only: mode %o, uid %d", path, fi.Mode().Perm(), st.Uid)
	}
	return nil
}
