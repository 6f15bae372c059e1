package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/load"
)

// metric is one figure a workload yields.
type metric struct {
	name, unit string
	higher     bool
}

func metricsOf(wl Workload) []metric {
	if wl == Stream {
		return []metric{{string(Stream), "Gbit/s", true}}
	}
	unit := map[Workload]string{RR: "trans/s", CRR: "conn/s", UDPRR: "trans/s"}[wl]
	return []metric{
		{string(wl), unit, true},
		{string(wl) + " p50", "µs", false},
		{string(wl) + " p99", "µs", false},
	}
}

// measure runs one load against a target; the figures are in the order of
// metricsOf(wl).
func (h *harness) measure(ctx context.Context, tgt Target, wl Workload, d time.Duration) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	if wl == Stream {
		gbit, err := h.stream(ctx, tgt, d)
		return []float64{gbit}, err
	}
	mode := map[Workload]load.Mode{RR: load.RR, CRR: load.CRR, UDPRR: load.UDPRR}[wl]
	res, err := h.load(ctx, tgt, mode, d)
	if err != nil {
		return nil, err
	}
	return []float64{res.OpsPerSec, res.P50us, res.P99us}, nil
}

func (h *harness) load(ctx context.Context, tgt Target, mode load.Mode, d time.Duration) (load.Result, error) {
	out, err := output(clientCmd(ctx, tgt, h.self, "load-client", "-mode", string(mode),
		"-addr", tgt.Load.String(), "-d", d.String(), "-size", strconv.Itoa(h.opts.Size)))
	if err != nil {
		return load.Result{}, errors.New(message(err))
	}
	var res load.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return res, fmt.Errorf("parse load result: %w", err)
	}
	return res, nil
}

// stream is one iperf3 TCP stream for d rounded to whole seconds, in
// Gbit/s as received.
func (h *harness) stream(ctx context.Context, tgt Target, d time.Duration) (float64, error) {
	secs := max(1, int(math.Round(d.Seconds())))
	out, err := output(clientCmd(ctx, tgt, "iperf3", "-J", "-c", tgt.Stream.Addr().String(),
		"-p", strconv.Itoa(int(tgt.Stream.Port())), "-t", strconv.Itoa(secs), "--connect-timeout", "3000"))
	var res struct {
		Error string `json:"error"`
		End   struct {
			Received struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		if err == nil {
			err = fmt.Errorf("parse iperf3 result: %w", jerr)
		}
		return 0, err
	}
	if res.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", res.Error)
	}
	if err != nil {
		return 0, err
	}
	return res.End.Received.BitsPerSecond / 1e9, nil
}

// probe says whether a target answers a TCP request, retrying while its
// servers may still be starting.
func (h *harness) probe(ctx context.Context, tgt Target) error {
	var err error
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		if _, err = h.load(ctx, tgt, load.RR, 100*time.Millisecond); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// serve starts the load server, and iperf3 if stream, in a namespace.
func (h *harness) serve(netns string, stream bool) error {
	if err := h.background(netns, h.self, "load-server", "-addr", fmt.Sprintf(":%d", loadPort),
		"-size", strconv.Itoa(h.opts.Size)); err != nil {
		return err
	}
	if !stream {
		return nil
	}
	return h.background(netns, "iperf3", "-s", "-p", strconv.Itoa(streamPort))
}

// tune lets clients reuse TIME_WAIT ports for new connections, as a CRR
// load opens more connections than the ephemeral range holds in a minute.
// The same on every side, and only in the worlds' namespaces.
func (h *harness) tune(netns ...string) error {
	for _, ns := range netns {
		if _, err := output(nsCmd(context.Background(), ns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1")); err != nil {
			return err
		}
	}
	return nil
}
