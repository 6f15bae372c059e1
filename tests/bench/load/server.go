package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// Serve echoes size-byte requests on TCP and UDP at addr until ctx ends.
func Serve(ctx context.Context, addr string, size int) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen udp %s: %w", addr, err)
	}
	return serve(ctx, ln, pc, size)
}

func serve(ctx context.Context, ln net.Listener, pc net.PacketConn, size int) error {
	go func() {
		<-ctx.Done()
		ln.Close()
		pc.Close()
	}()
	go echoUDP(pc, size)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			continue
		}
		go echoTCP(conn, size)
	}
}

func echoTCP(conn net.Conn, size int) {
	defer conn.Close()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		if _, err := conn.Write(buf); err != nil {
			return
		}
	}
}

func echoUDP(pc net.PacketConn, size int) {
	buf := make([]byte, max(size, 64<<10))
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}
