package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Issue 11, found 7: every --network counts, in order, as docker run
// (25+) takes them, with its name=NET,ip=IP form; --ip is the first's.
func TestEndpointNetworks(t *testing.T) {
	type nets = []api.EndpointNetwork
	for _, tc := range []struct {
		name  string
		flags []string
		ip    string
		want  nets
		err   string
	}{
		{"none: the default network", nil, "", nets{{}}, ""},
		{"none with --ip", nil, "172.17.0.9", nets{{IP: "172.17.0.9"}}, ""},
		{"one", []string{"web"}, "", nets{{Name: "web"}}, ""},
		{"two, in order", []string{"a", "b"}, "", nets{{Name: "a"}, {Name: "b"}}, ""},
		{"--ip goes with the first", []string{"a", "b"}, "10.0.0.9", nets{{Name: "a", IP: "10.0.0.9"}, {Name: "b"}}, ""},
		{"advanced", []string{"name=a,ip=10.0.0.9", "name=b, ip=10.1.0.9"}, "",
			nets{{Name: "a", IP: "10.0.0.9"}, {Name: "b", IP: "10.1.0.9"}}, ""},
		{"advanced and plain", []string{"a", "name=b,ip=10.1.0.9"}, "10.0.0.9",
			nets{{Name: "a", IP: "10.0.0.9"}, {Name: "b", IP: "10.1.0.9"}}, ""},
		{"both ips on the first", []string{"name=a,ip=10.0.0.9"}, "10.0.0.8", nil,
			"conflicting options: cannot specify both --ip and per-network IPv4 address"},
		{"no name", []string{"ip=10.0.0.9"}, "", nil, "network name/id is not specified"},
		{"aliases", []string{"name=a,alias=x,alias=y", "name=b,alias=z"}, "",
			nets{{Name: "a", Aliases: []string{"x", "y"}}, {Name: "b", Aliases: []string{"z"}}}, ""},
		{"an IPv6 address", []string{"name=a,ip6=fd00::9"}, "", nil, "--network field ip6 is not supported: ebpfnet is IPv4 only"},
		{"an unknown key", []string{"name=a,colour=red"}, "", nil, "invalid field key colour"},
		{"a field without =", []string{"name=a,b"}, "", nil, "invalid field b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := endpointNetworks(tc.flags, tc.ip)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
