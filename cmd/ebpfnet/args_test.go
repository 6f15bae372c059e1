package main

import (
	"slices"
	"strings"
	"testing"
)

func TestInterspersed(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"flags after positionals", "network create web --subnet 10.0.0.0/24 --internal",
			"network create --subnet 10.0.0.0/24 --internal -- web"},
		{"the socket after the command", "daemon start --socket /s --bpffs /b",
			"--socket /s daemon start --bpffs /b"},
		{"the socket between group and command", "daemon --socket=/s start",
			"--socket=/s daemon start"},
		{"the socket first stays first", "--socket /s status --json", "--socket /s status --json"},
		{"the socket after a positional", "endpoint rm a b --socket /s", "--socket /s endpoint rm -- a b"},
		{"a value that looks like a command", "endpoint create status --network web",
			"endpoint create --network web -- status"},
		{"after --, nothing is a flag", "endpoint rm -- --socket", "endpoint rm -- --socket"},
		{"repeated flags keep their order", "publish api 80 -p 1 -p 2", "publish -p 1 -p 2 -- api 80"},
		{"unknown command: positionals", "frobnicate --socket /s x", "--socket /s -- frobnicate x"},
		{"help drops the positionals", "endpoint create -h x", "endpoint create -h"},
		{"help after them too", "endpoint create x --network web --help", "endpoint create --network web --help"},
		{"help of a group", "network lss -h", "network -h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := interspersed(app(), append([]string{"ebpfnet"}, strings.Fields(tc.in)...))[1:]
			if want := strings.Fields(tc.want); !slices.Equal(got, want) {
				t.Fatalf("interspersed(%q) = %q, want %q", tc.in, got, want)
			}
		})
	}
}
