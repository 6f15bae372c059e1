package main

import (
	"strconv"
	"testing"
)

// Issue 11, found 4: port takes docker port's PRIVATE_PORT[/PROTO].
func TestPrivatePort(t *testing.T) {
	for in, want := range map[string]string{
		"80": "80/tcp", "80/udp": "80/udp", "53/UDP": "53/udp", "65535/tcp": "65535/tcp",
		"0": "", "65536": "", "http": "", "80/sctp": "", "": "", "80/": "",
	} {
		port, proto, err := privatePort(in)
		got := ""
		if err == nil {
			got = strconv.Itoa(int(port)) + "/" + proto
		}
		if got != want {
			t.Errorf("privatePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
