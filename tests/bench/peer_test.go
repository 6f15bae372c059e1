package main

import (
	"testing"
	"time"
)

func TestAtLeast(t *testing.T) {
	for _, tc := range []struct {
		name string
		adds []added
		n    int
		want time.Duration
		ok   bool
	}{
		{"one ADD says nothing of the cost per mapping", []added{{1, 200 * time.Millisecond}}, 1000, 0, false},
		{"the fixed cost is not scaled", []added{{1, time.Second}, {1001, 11 * time.Second}}, 10001, 101 * time.Second, true},
		{"a later round's small ADD keeps the span", []added{{1, 2 * time.Second}, {1001, 12 * time.Second}, {1, time.Second}}, 10001, 111 * time.Second, true},
		{"no floor below the largest ADD", []added{{1, time.Second}, {1001, 11 * time.Second}}, 500, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &peerSide{adds: tc.adds}
			got, ok := p.atLeast(tc.n)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("atLeast(%d) = %v %v, want %v %v", tc.n, got, ok, tc.want, tc.ok)
			}
		})
	}
}
