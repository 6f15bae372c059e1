// Package load is a small netperf-style load tool: a server that echoes
// TCP and UDP requests, and a client that runs request/response over one
// connection (RR), a new connection per request (CRR, netperf's TCP_CRR) or
// UDP datagrams (UDP-RR) for a bounded time, one transaction in flight, and
// reports the rate and latency percentiles.
package load

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Mode is a workload the client runs.
type Mode string

const (
	RR    Mode = "rr"
	CRR   Mode = "crr"
	UDPRR Mode = "udp-rr"
)

// ParseMode accepts rr, crr and udp-rr.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case RR, CRR, UDPRR:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: want rr, crr or udp-rr", s)
}

// Result is one client run.
type Result struct {
	Mode      Mode    `json:"mode"`
	Ops       int     `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

// opTimeout bounds one transaction: a lost packet ends the run with an
// error instead of stalling it.
const opTimeout = 3 * time.Second

// Run runs mode against addr for d with size-byte requests and responses.
func Run(ctx context.Context, mode Mode, addr string, d time.Duration, size int) (Result, error) {
	op, closer, err := newOp(ctx, mode, addr, size)
	if err != nil {
		return Result{}, err
	}
	defer closer()
	lat := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	end := start.Add(d)
	for now := start; now.Before(end) && ctx.Err() == nil; {
		if err := op(now.Add(opTimeout)); err != nil {
			return Result{}, fmt.Errorf("%s to %s after %d transactions: %w", mode, addr, len(lat), err)
		}
		t := time.Now()
		lat = append(lat, t.Sub(now))
		now = t
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return summarize(mode, lat, time.Since(start)), nil
}

func summarize(mode Mode, lat []time.Duration, elapsed time.Duration) Result {
	r := Result{Mode: mode, Ops: len(lat), Seconds: elapsed.Seconds()}
	if len(lat) == 0 {
		return r
	}
	slices.Sort(lat)
	r.OpsPerSec = float64(len(lat)) / elapsed.Seconds()
	r.P50us = micros(percentile(lat, 0.50))
	r.P99us = micros(percentile(lat, 0.99))
	return r
}

// percentile takes the nearest-rank value of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
