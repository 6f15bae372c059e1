package portspec

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		spec string
		want []Mapping
		pick bool
	}{
		{"8080:80", []Mapping{{Proto: "tcp", HostPort: 8080, CPort: 80}}, false},
		{"127.0.0.1:8080:80", []Mapping{{Proto: "tcp", HostIP: ip("127.0.0.1"), HostPort: 8080, CPort: 80}}, false},
		{"198.51.100.1:8080:80", []Mapping{{Proto: "tcp", HostIP: ip("198.51.100.1"), HostPort: 8080, CPort: 80}}, false},
		{"0.0.0.0:8080:80/udp", []Mapping{{Proto: "udp", HostPort: 8080, CPort: 80}}, false},
		{"53:53/udp", []Mapping{{Proto: "udp", HostPort: 53, CPort: 53}}, false},
		{"9000:9000/sctp", []Mapping{{Proto: "sctp", HostPort: 9000, CPort: 9000}}, false},
		{"9000:9000/SCTP", []Mapping{{Proto: "sctp", HostPort: 9000, CPort: 9000}}, false},
		{"80", []Mapping{{Proto: "tcp", CPort: 80}}, false},
		{"127.0.0.1::80", []Mapping{{Proto: "tcp", HostIP: ip("127.0.0.1"), CPort: 80}}, false},
		{"8000-8002:80-82", []Mapping{
			{Proto: "tcp", HostPort: 8000, CPort: 80},
			{Proto: "tcp", HostPort: 8001, CPort: 81},
			{Proto: "tcp", HostPort: 8002, CPort: 82},
		}, false},
		{"80-81/TCP", []Mapping{{Proto: "tcp", CPort: 80}, {Proto: "tcp", CPort: 81}}, false},
		{"8000-8009:80", []Mapping{{Proto: "tcp", CPort: 80}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			sp, err := Parse(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := sp.Mappings()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("mapping %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if sp.PickOne() != tc.pick {
				t.Errorf("PickOne = %v, want %v", sp.PickOne(), tc.pick)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"":                      "empty",
		"0":                     "out of range",
		"8080:0":                "out of range",
		"65536:80":              "out of range",
		"8080:70000":            "out of range",
		"abc":                   "not a port",
		"8080:80/dccp":          "unknown protocol",
		"8080:80/":              "unknown protocol",
		"90-80:80":              "reversed",
		"8080:90-80":            "reversed",
		"8000-8001:80-82":       "differ in length",
		"8000-8003:80-81":       "differ in length",
		"300.1.1.1:8080:80":     "not an IPv4",
		"[::1]:8080:80":         "IPv6",
		"::1:8080:80":           "IPv6",
		"a:b:c:d":               "IPv6",
		"-80":                   "not a port",
		"80-":                   "not a port",
		strings.Repeat("8", 65): "longer than 64",
	} {
		_, err := Parse(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestMatches(t *testing.T) {
	m := Mapping{Proto: "tcp", HostPort: 8001, CPort: 81}
	for spec, want := range map[string]bool{
		"81":                true,
		"8001:81":           true,
		"8000-8002:80-82":   true,
		"8000-8009:81":      true,
		"8002:81":           false,
		"81/udp":            false,
		"127.0.0.1:8001:81": false,
		"82":                false,
	} {
		sp, err := Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := sp.Matches(m); got != want {
			t.Errorf("%q matches %v = %v, want %v", spec, m, got, want)
		}
	}
}

// FuzzParse: no input crashes the parser, and what it accepts expands to
// mappings inside the ranges it read.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:8080:80/udp", "8000-8009:80-89", "80", "::80", "1-65535:1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			return
		}
		ms := sp.Mappings()
		if len(ms) == 0 || len(ms) > 65535 {
			t.Fatalf("%q: %d mappings", s, len(ms))
		}
		for _, m := range ms {
			if m.CPort == 0 || (m.Proto != "tcp" && m.Proto != "udp" && m.Proto != "sctp") || !sp.Matches(m) && m.HostPort != 0 {
				t.Fatalf("%q: bad mapping %+v", s, m)
			}
		}
	})
}
