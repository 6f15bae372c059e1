package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		check   func(Options) bool
		wantErr bool
	}{
		{"defaults", nil, func(o Options) bool {
			return o.Rounds == 3 && len(o.Paths) == 5 && len(o.Workloads) == 4 && slices.Equal(o.Scale, []int{1, 1000, 10000})
		}, false},
		{"quick", []string{"-quick"}, func(o Options) bool {
			return o.Rounds == 1 && o.Duration == time.Second && slices.Equal(o.Scale, []int{1, 100}) && o.Endpoints == 10
		}, false},
		{"a flag given wins over quick", []string{"-quick", "-rounds", "2"}, func(o Options) bool { return o.Rounds == 2 }, false},
		{"the issue's example", []string{"-paths", "dnat", "-scale", "10000,1,1000", "-rounds", "5", "-out", "results/"}, func(o Options) bool {
			return slices.Equal(o.Paths, []string{"dnat"}) && slices.Equal(o.Scale, []int{1, 1000, 10000}) && o.Rounds == 5 && o.Out == "results/"
		}, false},
		{"paths keep the table's order", []string{"-paths", "hairpin,e2e"}, func(o Options) bool {
			return slices.Equal(o.Paths, []string{"e2e", "hairpin"})
		}, false},
		{"no scale", []string{"-scale", "none"}, func(o Options) bool { return o.Scale == nil }, false},
		{"unknown path", []string{"-paths", "nope"}, nil, true},
		{"unknown workload", []string{"-workloads", "sctp"}, nil, true},
		{"scale into the ephemeral range", []string{"-scale", "20000"}, nil, true},
		{"zero rounds", []string{"-rounds", "0"}, nil, true},
		{"stray argument", []string{"extra"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(o) {
				t.Fatalf("options not as expected: %+v", o)
			}
		})
	}
}

func TestScalePorts(t *testing.T) {
	for _, n := range []int{1, 2, 1000} {
		p := scalePorts(n)
		if len(p) != n || p[n-1] != scalePort || slices.Contains(p[:n-1], scalePort) {
			t.Errorf("scalePorts(%d) = %d ports ending in %d", n, len(p), p[n-1])
		}
	}
}
