package dns

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBench runs the comparison when EBPFNET_BENCH_DNS is set: to 1 for
// the defaults, or to flags of Options.Flags ("-rounds 1 -duration 5s").
// With EBPFNET_BENCH_DNS_OUT=DIR it also writes dns.md and dns.json there.
func TestBench(t *testing.T) {
	env := os.Getenv("EBPFNET_BENCH_DNS")
	if env == "" {
		t.Skip("set EBPFNET_BENCH_DNS=1 (or to flags) to run the DNS benchmark")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it builds network namespaces")
	}
	o := DefaultOptions()
	if env != "1" {
		fs := flag.NewFlagSet("EBPFNET_BENCH_DNS", flag.ContinueOnError)
		o.Flags(fs)
		if err := fs.Parse(strings.Fields(env)); err != nil {
			t.Fatal(err)
		}
	}
	o.Log = testLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	md := Markdown(res)
	t.Logf("\n%s", md)
	if dir := os.Getenv("EBPFNET_BENCH_DNS_OUT"); dir != "" {
		raw, jerr := json.MarshalIndent(res, "", "  ")
		if jerr == nil {
			jerr = os.MkdirAll(dir, 0o755)
		}
		if jerr == nil {
			jerr = errors.Join(os.WriteFile(filepath.Join(dir, "dns.json"), raw, 0o644),
				os.WriteFile(filepath.Join(dir, "dns.md"), []byte(md), 0o644))
		}
		if jerr != nil {
			t.Error(jerr)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Sides {
		if s.Err != "" {
			t.Errorf("%s: %s", s.Name, s.Err)
		}
	}
}

// TestQuick is a smoke run of the harness, every side with a few records
// for a second: each must come out with figures for every kind, and the
// report must say the target's verdict. No figure is checked: a run this
// short measures nothing.
func TestQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it builds network namespaces")
	}
	o := DefaultOptions()
	o.Endpoints, o.Rounds, o.Duration, o.Warmup = 8, 1, time.Second, 0
	o.LatencyQueries, o.ForwardNames = 200, 100
	o.Log = testLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Sides {
		for _, k := range kinds {
			if s.Err != "" || s.Kinds[k] == nil || s.Kinds[k].stat(func(r Round) float64 { return r.QPS }).N != 1 {
				t.Errorf("%s %s: no figures (%s)", s.Name, k, s.Err)
			}
		}
	}
	if md := Markdown(res); !strings.Contains(md, "Target met") && !strings.Contains(md, "Target not met") {
		t.Errorf("the report has no verdict:\n%s", md)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestParseDnsperf(t *testing.T) {
	st, err := parseDnsperf(dnsperfOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := perfStats{Sent: 1000, Completed: 998, Lost: 2, QPS: 99.8, AvgLatency: 150 * time.Microsecond,
		Codes: map[string]int{"NOERROR": 978, "NXDOMAIN": 20}}
	if st.Sent != want.Sent || st.Completed != want.Completed || st.Lost != want.Lost || st.QPS != want.QPS ||
		st.AvgLatency != want.AvgLatency || len(st.Codes) != 2 || st.Codes["NOERROR"] != 978 || st.Codes["NXDOMAIN"] != 20 {
		t.Errorf("got %+v, want %+v", st, want)
	}
	if err := st.check(); err == nil {
		t.Error("check: 20 NXDOMAIN of 998 passed")
	}
	if _, err := parseDnsperf("[Fatal] no such file"); err == nil {
		t.Error("parsed output without statistics")
	}
}

const dnsperfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 10.89.0.1 -p 53 -d q -l 10
[Status] Sending queries (to 10.89.0.1:53)
[Status] Started at: Mon Jan  1 00:00:00 2024
[Status] Stopping after 10.000000 seconds
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         1000
  Queries completed:    998 (99.80%)
  Queries lost:         2 (0.20%)

  Response codes:       NOERROR 978 (98.00%), NXDOMAIN 20 (2.00%)
  Average packet size:  request 33, response 49
  Run time (s):         10.000000
  Queries per second:   99.800000

  Average Latency (s):  0.000150 (min 0.000050, max 0.001000)
  Latency StdDev (s):   0.000020

`
