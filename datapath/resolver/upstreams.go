package resolver

import (
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Upstreams is where the resolvers forward: fixed servers (--dns), or
// the node's, read from a resolv.conf again when the file changes, as
// Docker watches the host's.
type Upstreams struct {
	fixed []netip.AddrPort
	path  string // "" with fixed servers

	mu      sync.Mutex
	checked time.Time // when the file was last looked at
	stamp   fileStamp
	servers []netip.AddrPort
}

// recheck is how often the file is looked at, at most: a stat on the
// way of a forwarded query.
const recheck = 2 * time.Second

type fileStamp struct {
	mtime time.Time
	size  int64
	ino   uint64
}

// FixedUpstreams forwards to these servers only.
func FixedUpstreams(servers []netip.AddrPort) *Upstreams { return &Upstreams{fixed: servers} }

// FileUpstreams forwards to the nameservers of a resolv.conf (NodeUpstreams).
func FileUpstreams(path string) *Upstreams {
	u := &Upstreams{path: path}
	u.Get()
	return u
}

// Get is the servers now.
func (u *Upstreams) Get() []netip.AddrPort {
	if u == nil {
		return nil
	}
	if u.path == "" {
		return u.fixed
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.checked) < recheck && !u.checked.IsZero() {
		return u.servers
	}
	u.checked = time.Now()
	st, err := stamp(u.path)
	if err != nil || st == u.stamp {
		return u.servers
	}
	if servers, err := NodeUpstreams(u.path); err == nil {
		u.servers, u.stamp = servers, st
	}
	return u.servers
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{mtime: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino // a file replaced by a rename is another
	}
	return st, nil
}
