package load

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// echo serves on a free loopback port and returns its address.
func echo(t *testing.T, size int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		ln.Close()
		t.Skipf("udp port %d taken: %v", port, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, pc, size) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode Mode
		size int
	}{
		{"request/response", RR, 1},
		{"connect/request/response", CRR, 1},
		{"udp request/response", UDPRR, 1},
		{"large requests", RR, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := echo(t, tc.size)
			res, err := Run(context.Background(), tc.mode, addr, 200*time.Millisecond, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops == 0 || res.OpsPerSec <= 0 {
				t.Fatalf("no transactions: %+v", res)
			}
			if res.P50us <= 0 || res.P50us > res.P99us {
				t.Fatalf("percentiles out of order: %+v", res)
			}
		})
	}
}

func TestRunFailsWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, mode := range []Mode{RR, CRR} {
		if _, err := Run(context.Background(), mode, addr, 100*time.Millisecond, 1); err == nil {
			t.Errorf("%s to a closed port: no error", mode)
		}
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	for _, tc := range []struct {
		name string
		p    float64
		want time.Duration
	}{
		{"median", 0.5, 50 * time.Microsecond},
		{"p99", 0.99, 99 * time.Microsecond},
		{"max", 1, 100 * time.Microsecond},
		{"min", 0, time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(lat, tc.p); got != tc.want {
				t.Fatalf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
}
