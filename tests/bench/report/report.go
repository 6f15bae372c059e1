// Package report turns the benchmark's samples into what a reader gets:
// medians with min and max per side, ratios to the peer and to the limit, a
// Markdown table, the raw figures as JSON and PNG charts.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Side names, in the table's order.
const (
	Ebpfnet       = "ebpfnet"
	EbpfnetDocker = "ebpfnet-docker"
	Peer          = "cni"
	Docker        = "docker"
	Limit         = "veth"
)

// Sides are the sides with their names in ratios and column titles.
var Sides = []struct{ Key, Short, Title string }{
	{Ebpfnet, "ebpfnet", "ebpfnet"},
	{EbpfnetDocker, "eDocker", "Docker on ebpfnet"},
	{Peer, "CNI", "CNI (iptables)"},
	{Docker, "Docker", "Docker bridge (iptables, docker-proxy)"},
	{Limit, "veth", "raw veth"},
}

func short(key string) string {
	for _, s := range Sides {
		if s.Key == key {
			return s.Short
		}
	}
	return key
}

// Sample is one figure of one side in one round, or why there is none.
type Sample struct {
	Side   string   `json:"side"`
	Group  string   `json:"group"`  // a path key, "scale" or "control"
	Metric string   `json:"metric"` // e.g. "tcp-rr p99"
	Unit   string   `json:"unit"`
	Higher bool     `json:"higher_is_better"`
	Ports  int      `json:"ports,omitempty"` // scale: published ports
	Round  int      `json:"round"`
	Value  *float64 `json:"value,omitempty"`
	Error  string   `json:"error,omitempty"` // the measurement failed
	NA     string   `json:"na,omitempty"`    // the side cannot do this
}

// Group is a section of the table.
type Group struct {
	Key   string `json:"key"`
	Title string `json:"title"`
}

// Machine is what the figures were taken on.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Memory string `json:"memory"`
}

// Run is a whole benchmark run: results.json.
type Run struct {
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command"`
	Method   string    `json:"method"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Groups   []Group   `json:"groups"`
	Notes    []string  `json:"notes"`
	Samples  []Sample  `json:"samples"`
}

// Write puts results.md, results.json and the charts into dir.
func Write(dir string, r *Run) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), raw, 0o644); err != nil {
		return fmt.Errorf("write results.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(Markdown(r)), 0o644); err != nil {
		return fmt.Errorf("write results.md: %w", err)
	}
	if err := RatioChart(r, filepath.Join(dir, "ratios.png")); err != nil {
		return err
	}
	return ScaleChart(r, filepath.Join(dir, "scale.png"))
}

// Read loads a results.json.
func Read(path string) (*Run, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &r, nil
}

// Cell is one side's figure in a row: the median over its rounds, or why
// there is none.
type Cell struct {
	N                int // rounds with a value
	Failed           int // rounds whose measurement failed
	Median, Min, Max float64
	NA, Error        string
}

// Row is one metric of one group, a cell per side.
type Row struct {
	Group, Metric, Unit string
	Higher              bool
	Ports               int
	Cells               map[string]*Cell
}

// Rows summarizes the samples, rows in the order they were first measured.
func Rows(samples []Sample) []*Row {
	var rows []*Row
	byKey := map[string]*Row{}
	values := map[*Cell][]float64{}
	for _, s := range samples {
		key := s.Group + "\x00" + s.Metric
		row := byKey[key]
		if row == nil {
			row = &Row{Group: s.Group, Metric: s.Metric, Unit: s.Unit, Higher: s.Higher, Ports: s.Ports, Cells: map[string]*Cell{}}
			byKey[key] = row
			rows = append(rows, row)
		}
		c := row.Cells[s.Side]
		if c == nil {
			c = &Cell{}
			row.Cells[s.Side] = c
		}
		switch {
		case s.Value != nil:
			values[c] = append(values[c], *s.Value)
		case s.NA != "":
			c.NA = s.NA
		default:
			c.Failed++
			if c.Error == "" {
				c.Error = s.Error
			}
		}
	}
	for c, v := range values {
		slices.Sort(v)
		c.N, c.Min, c.Max, c.Median = len(v), v[0], v[len(v)-1], median(v)
	}
	return rows
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Ratio is a's median over b's, when both have one.
func (r *Row) Ratio(a, b string) (float64, bool) {
	ca, cb := r.Cells[a], r.Cells[b]
	if ca == nil || cb == nil || ca.N == 0 || cb.N == 0 || cb.Median == 0 {
		return 0, false
	}
	return ca.Median / cb.Median, true
}

// byGroup is Rows in the order of the run's groups, then of measurement.
func byGroup(r *Run) []*Row {
	rows := Rows(r.Samples)
	rank := map[string]int{}
	for i, g := range r.Groups {
		rank[g.Key] = i
	}
	slices.SortStableFunc(rows, func(a, b *Row) int { return rank[a.Group] - rank[b.Group] })
	return rows
}
