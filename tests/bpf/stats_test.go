package bpftest

import (
	"slices"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// TestTraceConfig: enet_config decides which verdicts reach enet_events;
// every verdict is counted whatever it says.
func TestTraceConfig(t *testing.T) {
	cases := []struct {
		name   string
		flags  loader.EnetConfigFlag
		events []maps.Reason
	}{
		{"off", 0, nil},
		{"drops", loader.EnetConfigFlagCONFIG_F_TRACE_DROPS, []maps.Reason{spoofIP}},
		{"every verdict", loader.EnetConfigFlagCONFIG_F_TRACE, []maps.Reason{
			fwdPeer, toBridge, spoofIP,
		}},
	}
	pkts := [][]byte{
		udp(t, web1, web2.IP.String()),
		udp(t, web1, web.Gateway.String()),
		UDPv4(t, web1.MAC, web.GatewayMAC, db1.IP, web.Gateway),
	}
	base := Load(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := fromEpWorld(base.Reuse(t))
			d.SetConfig(loader.EnetConfig{Flags: tc.flags})
			var got []maps.Reason
			for _, p := range pkts {
				for _, ev := range d.RunTC(d.EnetFromEp, web1.Ifindex, p).Events {
					got = append(got, ev.Reason)
				}
			}
			if !slices.Equal(got, tc.events) {
				t.Errorf("events %v, want %v", got, tc.events)
			}
			if n := len(d.Counters()); n != len(pkts) {
				t.Errorf("%d counters, want %d", n, len(pkts))
			}
		})
	}
}
