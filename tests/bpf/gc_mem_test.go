package bpftest

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The GC walks the tables a batch at a time: with 60,000 live flows and
// their 120,000 translations one pass allocates 6 MiB (the live flows'
// keys), where reading both tables whole allocated 250 MiB, which the
// daemon then held as resident memory after its passes (the bench's
// "daemon RSS, A, B and S up" was 103 MiB after the loads).
func TestGCMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 180,000 map entries")
	}
	const flows = 60000
	dp, _, err := loader.Load("", loader.Options{CTMax: 2 * flows, NATMax: 4 * flows})
	if err != nil {
		t.Skipf("load datapath: %v", err)
	}
	d := wrap(t, dp)
	now := monoNow(t)
	for i := range flows {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
		dst := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), 80)
		nated := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(1024+i))
		orig := maps.Tuple{Proto: 6, Src: src, Dst: dst}
		reply := maps.Tuple{Proto: 6, Src: dst, Dst: nated}
		f := maps.Flow{Tuple: orig, Reply: reply, CreatedNs: now - uint64(time.Hour), ExpiresNs: now + uint64(time.Hour), Assured: true}
		must(t, d.Maps.CT.Restore(f))
		must(t, d.Maps.NAT.Restore(maps.Translation{Tuple: orig, To: maps.Tuple{Proto: 6, Src: nated, Dst: dst}, Flow: orig, CreatedNs: f.CreatedNs, Assured: true}))
		must(t, d.Maps.NAT.Restore(maps.Translation{Tuple: reply, To: orig.Reverse(), Flow: orig, CreatedNs: f.CreatedNs, Reply: true, Assured: true}))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	done, err := maps.Collect(d.Maps.CT, d.Maps.NAT, now)
	runtime.ReadMemStats(&after)
	must(t, err)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("one GC pass over %d live flows and %d translations allocated %.1f MiB", flows, 2*flows, float64(alloc)/(1<<20))
	if done.Flows != 0 || done.Orphans != 0 {
		t.Fatalf("the GC removed %+v of live flows", done)
	}
	if alloc > 16<<20 {
		t.Errorf("one GC pass allocated %.1f MiB, want under 16", float64(alloc)/(1<<20))
	}
}
