package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/bench/report"
)

// TestMain lets the harness re-execute the test binary as its sub-commands.
func TestMain(m *testing.M) {
	runSubcommand(os.Args[1:])
	os.Exit(m.Run())
}

// TestQuick runs `-quick` and checks that every side produced a figure, or
// said why it cannot, for everything; not what the figures are.
func TestQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the benchmark harness needs root: it builds network namespaces")
	}
	out := t.TempDir()
	opts, err := parseFlags([]string{"-quick", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, opts, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	for _, f := range []string{"results.md", "results.json", "ratios.png", "scale.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	r, err := report.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	rows := report.Rows(r.Samples)
	if len(rows) == 0 {
		t.Fatal("no figures at all")
	}
	for _, row := range rows {
		for _, s := range report.Sides {
			c := row.Cells[s.Key]
			switch {
			case c == nil:
				t.Errorf("%s %q: nothing from %s", row.Group, row.Metric, s.Key)
			case c.N == 0 && c.NA == "":
				t.Errorf("%s %q: %s neither measured nor said why not: %s", row.Group, row.Metric, s.Key, c.Error)
			}
		}
	}
	// The CNI rows: ebpfnet-cni and the reference chain, call by call.
	t.Run("ebpfnet and the peer time each CNI ADD and DEL", func(t *testing.T) {
		want := []string{"CNI ADD p50", "CNI DEL p50", fmt.Sprintf("CNI ADD+DEL, %d containers", opts.Endpoints)}
		for _, m := range want {
			var row *report.Row
			for _, r := range rows {
				if r.Group == "control" && r.Metric == m {
					row = r
				}
			}
			if row == nil {
				t.Errorf("no control row %q", m)
				continue
			}
			for _, s := range []string{report.Ebpfnet, report.Peer} {
				if c := row.Cells[s]; c == nil || c.N == 0 || c.Median <= 0 {
					t.Errorf("control %q: no figure from %s: %+v", m, s, c)
				}
			}
		}
	})
	// What each side can do today, so an n/a there is a failure.
	for _, tc := range []struct {
		name, side string
		groups     []string
	}{
		{"ebpfnet does every path, scale and the control plane", report.Ebpfnet, []string{"e2e", "masq", "dnat", "localhost", "hairpin", "scale", "control"}},
		{"the peer does every path and scale", report.Peer, []string{"e2e", "masq", "dnat", "localhost", "hairpin", "scale"}},
		{"the limit does every path and scale", report.Limit, []string{"e2e", "masq", "dnat", "localhost", "hairpin", "scale"}},
		{"Docker on ebpfnet does every path and scale", report.EbpfnetDocker, []string{"e2e", "masq", "dnat", "localhost", "hairpin", "scale"}},
		{"Docker's bridge does every path but hairpin, and scale", report.Docker, []string{"e2e", "masq", "dnat", "localhost", "scale"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]bool{}
			for _, g := range tc.groups {
				want[g] = true
			}
			seen := map[string]bool{}
			for _, row := range rows {
				if !want[row.Group] {
					continue
				}
				seen[row.Group] = true
				if c := row.Cells[tc.side]; c == nil || c.N == 0 {
					t.Errorf("%s %q: no figure from %s: %+v", row.Group, row.Metric, tc.side, c)
				}
			}
			for g := range want {
				if !seen[g] {
					t.Errorf("no rows for %s", g)
				}
			}
		})
	}
}
