package ports

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
)

// Reservation holds a host port while it is published: a socket bound to
// it, as docker-proxy's listener is, without a proxy behind it. A port
// some socket of the node already holds is refused, an address that is
// not the node's too, and while published no process on the node can
// take it.
type Reservation struct {
	fd int
}

// Close lets the port go.
func (r *Reservation) Close() error {
	if r == nil || r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	if err != nil {
		return fmt.Errorf("release host port: %w", err)
	}
	return nil
}

// Reserve binds a socket to a host port. Port 0 asks the kernel for a
// free port from the ephemeral range; the port taken is returned.
func Reserve(proto string, ip netip.Addr, port uint16) (*Reservation, uint16, error) {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if errors.Is(err, unix.EMFILE) {
		return nil, 0, fmt.Errorf("hold host port %d/%s: the daemon's limit on open files is reached "+
			"(a socket holds each published port): %w", port, proto, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("hold host port %d/%s: %w", port, proto, err)
	}
	r := &Reservation{fd: fd}
	sa := &unix.SockaddrInet4{Port: int(port)}
	if ip.IsValid() {
		sa.Addr = ip.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, 0, errors.Join(reserveError(proto, ip, port, err), r.Close())
	}
	if port == 0 {
		got, err := unix.Getsockname(fd)
		if err != nil {
			return nil, 0, errors.Join(fmt.Errorf("read the port taken: %w", err), r.Close())
		}
		port = uint16(got.(*unix.SockaddrInet4).Port)
	}
	return r, port, nil
}

func reserveError(proto string, ip netip.Addr, port uint16, err error) error {
	where := "0.0.0.0"
	if ip.IsValid() {
		where = ip.String()
	}
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return errdefs.Conflict("host port %s:%d/%s is in use by a socket on the node", where, port, proto)
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return errdefs.Invalid("%s is not an address of the node", where)
	}
	return err
}

// RaiseFileLimit lets the daemon hold a socket per published port: ten
// thousand of them are well over the usual soft limit of 1024.
func RaiseFileLimit() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}
