package report

import (
	"path/filepath"
	"strings"
	"testing"
)

func val(side, metric string, round int, v float64) Sample {
	return Sample{Side: side, Group: "e2e", Metric: metric, Unit: "conn/s", Higher: true, Round: round, Value: &v}
}

func sampleRun() *Run {
	return &Run{
		Groups: []Group{{Key: "e2e", Title: "e2e: endpoint to endpoint"}},
		Samples: []Sample{
			val(Ebpfnet, "tcp-crr", 1, 30), val(Peer, "tcp-crr", 1, 10), val(Limit, "tcp-crr", 1, 40),
			val(Ebpfnet, "tcp-crr", 2, 10), val(Peer, "tcp-crr", 2, 20), val(Limit, "tcp-crr", 2, 40),
			val(Ebpfnet, "tcp-crr", 3, 20), {Side: Peer, Group: "e2e", Metric: "tcp-crr", Round: 3, Error: "timeout"},
			val(Limit, "tcp-crr", 3, 40),
			{Side: Ebpfnet, Group: "e2e", Metric: "udp-rr", NA: "not in this build"},
			{Side: Peer, Group: "e2e", Metric: "udp-rr", Error: "no reply"},
			{Side: Limit, Group: "e2e", Metric: "udp-rr", NA: "not in this build"},
		},
	}
}

func TestRows(t *testing.T) {
	rows := Rows(sampleRun().Samples)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	crr, udp := rows[0], rows[1]
	for _, tc := range []struct {
		name string
		cell *Cell
		want Cell
	}{
		{"odd count takes the middle", crr.Cells[Ebpfnet], Cell{N: 3, Median: 20, Min: 10, Max: 30}},
		{"even count averages the middle two, failures counted apart", crr.Cells[Peer], Cell{N: 2, Failed: 1, Median: 15, Min: 10, Max: 20, Error: "timeout"}},
		{"not available", udp.Cells[Ebpfnet], Cell{NA: "not in this build"}},
		{"failed", udp.Cells[Peer], Cell{Failed: 1, Error: "no reply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if *tc.cell != tc.want {
				t.Fatalf("got %+v, want %+v", *tc.cell, tc.want)
			}
		})
	}
	if r, ok := crr.Ratio(Ebpfnet, Peer); !ok || r < 1.33 || r > 1.34 {
		t.Errorf("ebpfnet ÷ CNI = %v %v, want 20/15", r, ok)
	}
	if _, ok := udp.Ratio(Ebpfnet, Peer); ok {
		t.Error("a ratio without figures")
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sampleRun())
	for _, want := range []string{
		"## e2e: endpoint to endpoint",
		"| tcp-crr | conn/s | higher | 20.0 (10.0–30.0) | not run | 15.0 (10.0–20.0) 1 failed [1] | not run | 40.0 (40.0–40.0) | 1.33 | – | 0.50 | 0.38 |",
		"| udp-rr |  | lower | n/a [2] | not run | failed [3] | not run | n/a [2] | – | – | – | – |",
		"1. failed: timeout\n2. n/a: not in this build\n3. failed: no reply\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestFlatness(t *testing.T) {
	crr := func(side string, ports int, v float64) Sample {
		return Sample{Side: side, Group: "scale", Metric: "tcp-crr, " + portsText(ports), Unit: "conn/s", Higher: true, Ports: ports, Round: 1, Value: &v}
	}
	r := &Run{
		Groups: []Group{{Key: "scale", Title: "scale"}},
		Samples: []Sample{
			crr(Ebpfnet, 10000, 95), crr(Peer, 10000, 20),
			crr(Ebpfnet, 1, 100), crr(Peer, 1, 80),
			{Side: Limit, Group: "scale", Metric: "tcp-crr, 1 port", Ports: 1, NA: "nothing to publish"},
		},
	}
	md := Markdown(r)
	for _, want := range []string{
		"CRR rate at N published ports ÷ the rate at 1 port",
		"| 10000 ports ÷ 1 port | 0.95 | – | 0.25 | – | – |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	r := sampleRun()
	if err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	back, err := Read(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Samples) != len(r.Samples) {
		t.Fatalf("read %d samples, wrote %d", len(back.Samples), len(r.Samples))
	}
}
