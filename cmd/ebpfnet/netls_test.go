package main

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

var testNets = []api.Network{
	{Name: "bridge", ID: 1, Subnet: "172.17.0.0/16", Default: true, Endpoints: []string{}, Masquerade: true, ICC: true},
	{Name: "web", ID: 2, Subnet: "10.10.0.0/24", Endpoints: []string{"api", "db"}, ICC: true},
	{Name: "web-old", ID: 3, Subnet: "10.11.0.0/24", Endpoints: []string{}, Internal: true},
	{Name: "db", ID: 12, Subnet: "10.12.0.0/24", Endpoints: []string{}},
}

// Issue 11, must-hold 4: network ls --filter takes Docker's keys, values
// and matching.
func TestNetworkFilter(t *testing.T) {
	for _, tc := range []struct {
		filters []string
		want    string // names, space-separated
	}{
		{nil, "bridge web web-old db"},
		{[]string{"name=web"}, "web web-old"}, // Docker matches a name as a regular expression, unanchored
		{[]string{"name=^web$"}, "web"},
		{[]string{"name=web", "name=db"}, "web web-old db"},
		{[]string{"name=web", "type=custom", "dangling=true"}, "web-old"},
		{[]string{"id=2"}, "web db"}, // "12" holds "2", as a Docker ID prefix would
		{[]string{"id=^2$"}, "web"},
		{[]string{"driver=bridge"}, "bridge web web-old db"},
		{[]string{"driver=macvlan"}, ""},
		{[]string{"scope=local"}, "bridge web web-old db"},
		{[]string{"scope=swarm"}, ""},
		{[]string{"type=builtin"}, "bridge"},
		{[]string{"type=custom"}, "web web-old db"},
		{[]string{"type=custom", "type=builtin"}, "bridge web web-old db"},
		{[]string{"dangling=true"}, "web-old db"},
		{[]string{"dangling=1"}, "web-old db"},
		{[]string{"dangling=false"}, "bridge web"},
		{[]string{"label=env"}, ""},
		{[]string{" NAME = db "}, "db"},
	} {
		t.Run(strings.Join(tc.filters, ","), func(t *testing.T) {
			f, err := parseNetworkFilter(tc.filters)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range testNets {
				if f.match(n) {
					got = append(got, n.Name)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	for filter, want := range map[string]string{
		"name":                  "bad format of filter (expected name=value)",
		"colour=red":            "invalid filter 'colour'",
		"type=weird":            "invalid filter: 'type'='weird'",
		"dangling=maybe":        `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`,
		"dangling=1,dangling=0": `got more than one value for filter key "dangling"`,
	} {
		if _, err := parseNetworkFilter(strings.Split(filter, ",")); err == nil || err.Error() != want {
			t.Errorf("filter %s: %v, want %q", filter, err, want)
		}
	}
}

// Issue 11, must-hold 4: network ls --format as Docker's: a template a
// row, a table with a header, json a line each.
func TestNetworkFormat(t *testing.T) {
	rows := rowsOf(testNets[:2])
	for _, tc := range []struct{ format, want string }{
		{"{{.Name}}", "bridge\nweb\n"},
		{`{{.ID}}: {{.Name}}\t{{.Driver}}`, "1: bridge\tbridge\n2: web\tbridge\n"},
		{"{{.Name}} {{.Subnet}} {{.Internal}} {{.Endpoints}} {{.Scope}}", "bridge 172.17.0.0/16 false  local\nweb 10.10.0.0/24 false api,db local\n"},
		{"{{upper .Name}} {{json .Name}} {{len .Name}}", "BRIDGE \"bridge\" 6\nWEB \"web\" 3\n"},
		{"table {{.Name}}\t{{.ID}}\t{{.Driver}}", "NAME    NETWORK ID  DRIVER\nbridge  1           bridge\nweb     2           bridge\n"},
		{`table {{.Name}}\t{{.Masquerade}}`, "NAME    MASQUERADE\nbridge  true\nweb     false\n"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeFormat(&b, tc.format, networkHeaders, rows); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", b.String(), tc.want)
			}
		})
	}
	var b bytes.Buffer
	if err := writeFormat(&b, "json", networkHeaders, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], `{"name":"web","id":2,"subnet":"10.10.0.0/24"`) {
		t.Fatalf("json: %q", lines)
	}
	for format, want := range map[string]string{
		"{{.Name":     "template parsing error",
		"{{.Colour}}": "can't evaluate field Colour",
	} {
		if err := writeFormat(&b, format, networkHeaders, rows); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("format %q: %v, want an error with %q", format, err, want)
		}
	}
	// Docker's fields, and each field a header names, are the row's.
	for _, field := range append(strings.Fields("ID Name Driver Scope IPv4 IPv6 Internal Labels CreatedAt"),
		slices.Collect(maps.Keys(networkHeaders))...) {
		if networkHeaders[field] == "" {
			t.Errorf("no header for %s", field)
		}
		if err := writeFormat(&b, "{{."+field+"}}", networkHeaders, rows); err != nil {
			t.Errorf("{{.%s}}: %v", field, err)
		}
	}
}
