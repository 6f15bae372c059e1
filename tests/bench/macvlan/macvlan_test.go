package macvlan

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// TestQuick is a smoke run of the harness, every side's loads for a
// second: each side must come out with a non-zero figure for every
// metric, and the table must have a column per side. No figure is
// compared: a run this short measures nothing.
func TestQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it builds network namespaces")
	}
	o := DefaultOptions()
	o.Quick()
	o.Log = testLog{t}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	rows := report.Rows(res.Samples)
	if len(rows) != 7 {
		t.Errorf("%d rows, want 7 (a stream and two request-response loads of 3 figures)", len(rows))
	}
	for _, row := range rows {
		for _, s := range Sides {
			if c := row.Cells[s.Key]; c == nil || c.N != 1 || c.Median <= 0 {
				t.Errorf("%s %s: no figure: %+v", s.Key, row.Metric, c)
			}
		}
	}
	md := Markdown(res)
	for _, s := range Sides {
		if !strings.Contains(md, s.Title) {
			t.Errorf("the table has no column %q:\n%s", s.Title, md)
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestParseSockperf(t *testing.T) {
	st, err := parseSockperf([]byte(sockperfOutput))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(st.rate-24846/1.550) > 1e-6 || st.p50 != 60.269 || st.p99 != 99.487 {
		t.Errorf("got %+v, want rate 24846/1.550, p50 60.269, p99 99.487", st)
	}
	if _, err := parseSockperf([]byte("sockperf: No valid observations found.\n")); err == nil {
		t.Error("parsed output without statistics")
	}
}

func TestParseIperf3(t *testing.T) {
	got, err := parseIperf3([]byte(`{"end":{"sum_received":{"bits_per_second":15024709486.3}}}`))
	if err != nil || got < 15.02 || got > 15.03 {
		t.Errorf("got %v, %v; want 15.02 Gbit/s", got, err)
	}
	if _, err := parseIperf3([]byte(`{"error":"unable to connect to server"}`)); err == nil ||
		!strings.Contains(err.Error(), "unable to connect") {
		t.Errorf("got %v, want iperf3's error", err)
	}
}

const sockperfOutput = "sockperf: == version #3.7-no.git == \n" +
	"[ 0] IP = 10.99.0.2       PORT = 11112 # TCP\n" +
	"sockperf: [Total Run] RunTime=2.001 sec; Warm up time=400 msec; SentMessages=35373; ReceivedMessages=35372\n" +
	"sockperf: ========= Printing statistics for Server No: 0\n" +
	"sockperf: [Valid Duration] RunTime=1.550 sec; SentMessages=24846; ReceivedMessages=24846\n" +
	"sockperf: \x1b[2;35m====> avg-rtt=62.344 (std-dev=40.145)\x1b[0m\n" +
	"sockperf: Summary: Round trip is 62.344 usec\n" +
	"sockperf: ---> percentile 99.999 = 4179.246\n" +
	"sockperf: ---> percentile 99.990 = 2316.323\n" +
	"sockperf: ---> percentile 99.900 =  141.419\n" +
	"sockperf: ---> percentile 99.000 =   99.487\n" +
	"sockperf: ---> percentile 90.000 =   79.047\n" +
	"sockperf: ---> percentile 50.000 =   60.269\n" +
	"sockperf: ---> percentile 25.000 =   51.746\n"
