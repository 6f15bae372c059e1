package loader

import "testing"

func TestParseLinkPin(t *testing.T) {
	for pin, want := range map[string]struct {
		ifname string
		hook   Hook
		ok     bool
	}{
		"up0_ingress":      {"up0", Ingress, true},
		"enet-a_b_egress":  {"enet-a_b", Egress, true},
		"up0_xdp":          {"up0", XDP, true},
		"defrag":           {"", "", false},
		"up0_xdp_ingress":  {"up0_xdp", Ingress, true},
		"eth0_somethingel": {"", "", false},
	} {
		ifname, hook, ok := parseLinkPin(pin)
		if ifname != want.ifname || hook != want.hook || ok != want.ok {
			t.Errorf("%s: %q %q %v, want %+v", pin, ifname, hook, ok, want)
		}
	}
}

func TestParseXDPMode(t *testing.T) {
	for _, ok := range []string{"auto", "native", "generic", "off"} {
		if m, err := ParseXDPMode(ok); err != nil || string(m) != ok {
			t.Errorf("%s: %v %v", ok, m, err)
		}
	}
	if _, err := ParseXDPMode("offload"); err == nil {
		t.Error("offload: no error")
	}
}
