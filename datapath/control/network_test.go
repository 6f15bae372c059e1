package control

import (
	"strings"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

func TestParsePrefix(t *testing.T) {
	for in, ok := range map[string]bool{
		"10.0.0.0/24":                            true,
		"10.0.0.1/24":                            false, // host bits
		"10.0.0.0/33":                            false,
		"10.0.0.0":                               false,
		"fd00::/64":                              false,
		"300.0.0.0/8":                            false,
		"10.0.0.0/-1":                            false,
		" 10.0.0.0/24":                           false,
		"0.0.0.0/0":                              true,
		"192.168.1.0/30":                         true,
		"010.0.0.0/24":                           false,
		"10.0.0.0/24" + strings.Repeat(" ", 100): false,
	} {
		_, err := ParsePrefix("subnet", in)
		if (err == nil) != ok {
			t.Errorf("ParsePrefix(%q) = %v, want ok=%v", in, err, ok)
		}
		if err != nil && api.Code(err) != 400 {
			t.Errorf("ParsePrefix(%q): code %d, want 400", in, api.Code(err))
		}
	}
}

// FuzzParsePrefix: no input crashes the CIDR parser; what it accepts is an
// IPv4 prefix without host bits; what it refuses is a 400.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1/24", "::/0", "1.2.3.4/32", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix("subnet", s)
		if err != nil {
			if api.Code(err) != 400 {
				t.Fatalf("%q: code %d", s, api.Code(err))
			}
			return
		}
		if !p.Addr().Is4() || p.Masked() != p {
			t.Fatalf("%q accepted as %v", s, p)
		}
	})
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"web": true, "a.b-c_d": true, "A1": true,
		"": false, "-x": false, ".x": false, "a/b": false, "../x": false, "a b": false,
		"x\x00": false, "ünï": false,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": false, // 65 bytes
	} {
		if err := checkName("endpoint", name); (err == nil) != ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
