package resolver

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenConfig binds the gateway's address even before the bridge holds
// it (IP_FREEBIND), as the network's creation and a restart race.
var listenConfig = net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
	})
	if err != nil {
		return err
	}
	return serr
}}

// guardedListener closes the connections no endpoint of the network
// opened before the DNS server reads them.
type guardedListener struct {
	net.Listener
	allowed func(netip.Addr) bool
	outside func()
}

func (g guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || g.allowed(addrOf(c.RemoteAddr())) {
			return c, err
		}
		g.outside()
		_ = c.Close()
	}
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// listen opens the UDP and TCP sockets of a resolver on addr:port.
func listen(addr netip.Addr, port uint16) (*net.UDPConn, net.Listener, error) {
	ap := netip.AddrPortFrom(addr, port).String()
	c, err := listenConfig.ListenPacket(context.Background(), "udp4", ap)
	if err != nil {
		return nil, nil, err
	}
	pc := c.(*net.UDPConn)
	l, err := listenConfig.Listen(context.Background(), "tcp4", ap)
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	return pc, l, nil
}
