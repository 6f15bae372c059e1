package datapath

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// reserve binds a socket to a host port about to be published, as
// docker-proxy's listener does, without a proxy behind it: a port some
// socket of the node already holds is refused, an address that is not the
// node's too, and while published no process on the node can take it.
// Port 0 asks the kernel for a free port from the ephemeral range.
func reserve(proto string, ip netip.Addr, port uint16) (int, uint16, error) {
	typ, protocol := unix.SOCK_STREAM, 0
	switch proto {
	case "udp":
		typ = unix.SOCK_DGRAM
	case "sctp":
		protocol = unix.IPPROTO_SCTP
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, protocol)
	if errors.Is(err, unix.EMFILE) {
		return -1, 0, fmt.Errorf("hold host port %d/%s: the daemon's limit on open files is reached "+
			"(a socket holds each published port): %w", port, proto, err)
	}
	if err != nil && protocol == unix.IPPROTO_SCTP {
		return -1, 0, noSCTP(err)
	}
	if err != nil {
		return -1, 0, err
	}
	sa := &unix.SockaddrInet4{Port: int(port)}
	if ip.IsValid() {
		sa.Addr = ip.As4()
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, 0, reserveError(proto, ip, port, err)
	}
	if port == 0 {
		got, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return -1, 0, err
		}
		port = uint16(got.(*unix.SockaddrInet4).Port)
	}
	return fd, port, nil
}

// releasePorts closes the sockets holding published ports as the daemon
// exits, before its API socket goes, so that a daemon started as soon as
// the socket is gone can take them again.
func (m *Manager) releasePorts() {
	for k, fd := range m.reserved {
		unix.Close(fd)
		delete(m.reserved, k)
	}
}

func reserveError(proto string, ip netip.Addr, port uint16, err error) error {
	where := "0.0.0.0"
	if ip.IsValid() {
		where = ip.String()
	}
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		return api.Conflict("host port %s:%d/%s is in use by a socket on the node", where, port, proto)
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return api.BadRequest("%s is not an address of the node", where)
	}
	return err
}

// raiseFileLimit lets the daemon hold a socket per published port: ten
// thousand of them are well over the usual soft limit of 1024.
func raiseFileLimit() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
}
