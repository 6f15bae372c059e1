package maps

import (
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
)

// TestCTTimeouts: netfilter's defaults for what is not set, settings by
// the sysctls' names in Go durations or seconds, and bad settings refused.
func TestCTTimeouts(t *testing.T) {
	var c loader.EnetConfig
	CTTimeouts(nil).Apply(&c)
	want := loader.EnetConfig{
		TimeoutTcpSynSent: 120, TimeoutTcpSynRecv: 60, TimeoutTcpEstablished: 432000, TimeoutTcpFinWait: 120,
		TimeoutTcpCloseWait: 60, TimeoutTcpLastAck: 30, TimeoutTcpTimeWait: 120, TimeoutTcpClose: 10,
		TimeoutTcpUnacknowledged: 300, TimeoutUdp: 30, TimeoutUdpStream: 120, TimeoutIcmp: 30, TimeoutGeneric: 600,
	}
	if c != want {
		t.Errorf("defaults %+v, want netfilter's %+v", c, want)
	}
	set, err := ParseCTTimeouts([]string{"tcp-established=86400", "tcp-close-wait=2m", "udp=5s"})
	if err != nil {
		t.Fatal(err)
	}
	set.Apply(&c)
	want.TimeoutTcpEstablished, want.TimeoutTcpCloseWait, want.TimeoutUdp = 86400, 120, 5
	if c != want {
		t.Errorf("set %+v, want %+v", c, want)
	}
	for _, bad := range []string{"tcp-established", "established=1h", "udp=0", "udp=1.5s", "udp=-1s", "udp=5000000000s", "udp=x"} {
		if _, err := ParseCTTimeouts([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if d := DefaultCTTimeouts()["tcp-established"]; d != 5*24*time.Hour {
		t.Errorf("default tcp-established %s, want 120h", d)
	}
}
