package macvlan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// ports are a side's servers' on its LAN host: every side has its own,
// so that sides can run side by side (-quick).
type ports struct{ stream, udp, tcp int }

func portsOf(side string) ports {
	i := slices.IndexFunc(Sides, func(s struct{ Key, Title string }) bool { return s.Key == side })
	return ports{stream: 5201 + i, udp: 11111 + 2*i, tcp: 11112 + 2*i}
}

// Loads, in the order each round runs them.
const (
	Stream = "tcp-stream"
	UDPRR  = "udp-rr"
	TCPRR  = "tcp-rr"
)

var loads = []string{Stream, UDPRR, TCPRR}

// cpu is where every client and server runs (taskset). Unpinned, a round
// trip on this 2-core VM is ~15 µs when the scheduler puts client and
// server on one CPU and ~60 µs when a wakeup crosses CPUs, at random from
// one run to the next, and the stream's rate moves as much. On one core
// every load measures the path's CPU cost: client, server and the softirq
// work between them.
const cpu = "0"

// metric is one figure of a load.
type metric struct {
	name, unit string
	higher     bool
}

func metricsOf(load string) []metric {
	if load == Stream {
		return []metric{{Stream, "Gbit/s", true}}
	}
	return []metric{{load, "trans/s", true}, {load + " p50", "µs", false}, {load + " p99", "µs", false}}
}

// target is where a side's client runs and what it talks to.
type target struct {
	client string     // netns
	server netip.Addr // the LAN host
	ports  ports
}

// measure runs one load from a side's client; the figures are in the
// order of metricsOf(load).
func measure(ctx context.Context, tgt target, load string, d time.Duration) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	secs := strconv.Itoa(int(d / time.Second))
	if load == Stream {
		out, err := run(ctx, tgt.client, "taskset", "-c", cpu, "iperf3", "-J", "-c", tgt.server.String(), "-p", strconv.Itoa(tgt.ports.stream),
			"-t", secs, "--connect-timeout", "3000")
		gbit, perr := parseIperf3(out)
		if perr != nil {
			return nil, errors.Join(err, perr)
		}
		return []float64{gbit}, nil
	}
	args := []string{"taskset", "-c", cpu, "sockperf", "ping-pong", "-i", tgt.server.String(), "-t", secs, "--full-rtt"}
	if load == TCPRR {
		args = append(args, "--tcp", "-p", strconv.Itoa(tgt.ports.tcp))
	} else {
		args = append(args, "-p", strconv.Itoa(tgt.ports.udp))
	}
	out, err := run(ctx, tgt.client, args...)
	if err != nil {
		return nil, err
	}
	st, err := parseSockperf(out)
	if err != nil {
		return nil, err
	}
	return []float64{st.rate, st.p50, st.p99}, nil
}

// parseIperf3 is the received rate of iperf3 -J's output, in Gbit/s.
func parseIperf3(out []byte) (float64, error) {
	var res struct {
		Error string `json:"error"`
		End   struct {
			Received struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("parse iperf3 result: %w", err)
	}
	if res.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", res.Error)
	}
	if res.End.Received.BitsPerSecond <= 0 {
		return 0, errors.New("iperf3: nothing received")
	}
	return res.End.Received.BitsPerSecond / 1e9, nil
}

// sockperfStats are a ping-pong run's figures over its valid duration
// (after sockperf's warm-up): round trips per second, p50 and p99 round
// trip in µs (--full-rtt).
type sockperfStats struct{ rate, p50, p99 float64 }

var (
	validRe = regexp.MustCompile(`\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=(\d+); ReceivedMessages=(\d+)`)
	pctRe   = regexp.MustCompile(`percentile (50\.000|99\.000) = +([0-9.]+)`)
)

func parseSockperf(out []byte) (sockperfStats, error) {
	var st sockperfStats
	m := validRe.FindSubmatch(out)
	if m == nil {
		return st, fmt.Errorf("sockperf: no valid duration in %q", lastLine(string(out)))
	}
	secs, err1 := strconv.ParseFloat(string(m[1]), 64)
	recv, err2 := strconv.ParseFloat(string(m[3]), 64)
	if err := errors.Join(err1, err2); err != nil || secs <= 0 {
		return st, fmt.Errorf("sockperf: valid duration %q: %w", m[0], err)
	}
	st.rate = recv / secs
	for _, p := range pctRe.FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(p[2]), 64)
		if err != nil {
			return st, fmt.Errorf("sockperf: %q: %w", p[0], err)
		}
		if string(p[1]) == "50.000" {
			st.p50 = v
		} else {
			st.p99 = v
		}
	}
	if st.rate == 0 || st.p50 == 0 || st.p99 == 0 {
		return st, fmt.Errorf("sockperf: no rate or percentiles in %q", lastLine(string(out)))
	}
	return st, nil
}

// nsCmd is argv run inside a namespace (world.NetnsCmd).
var nsCmd = world.NetnsCmd

// run runs argv in a namespace and returns its stdout; an error says the
// last line it printed.
func run(ctx context.Context, netns string, argv ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := nsCmd(ctx, netns, argv...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(string(out))
		}
		return out, fmt.Errorf("%s in %s: %w: %s", argv[0], netns, err, msg)
	}
	return out, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
