package load

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// op is one transaction that must finish by its deadline.
type op func(deadline time.Time) error

func newOp(ctx context.Context, mode Mode, addr string, size int) (op, func(), error) {
	req := make([]byte, size)
	resp := make([]byte, size)
	dialer := net.Dialer{Timeout: opTimeout}
	switch mode {
	case RR, UDPRR:
		network := map[Mode]string{RR: "tcp", UDPRR: "udp"}[mode]
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, nil, err
		}
		return func(deadline time.Time) error {
			return exchange(conn, deadline, req, resp)
		}, func() { conn.Close() }, nil
	case CRR:
		return func(deadline time.Time) error {
			conn, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			return exchange(conn, deadline, req, resp)
		}, func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown mode %q", mode)
}

// exchange sends one request and reads the whole response.
func exchange(conn net.Conn, deadline time.Time, req, resp []byte) error {
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := io.ReadFull(conn, resp); err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	return nil
}
