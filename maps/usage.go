package maps

import (
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Use is how full one pinned map is.
type Use struct {
	Name       string
	Type       string
	Entries    int
	MaxEntries uint32
}

// pinned are the maps status reports, by name: the datapath's state and
// tables (the config array, ring buffer and per-CPU scratch are fixed).
func pinned(dp *loader.Datapath) map[string]*ebpf.Map {
	return map[string]*ebpf.Map{
		loader.EnetMapEnetEndpoints: dp.EnetEndpoints,
		loader.EnetMapEnetIfaces:    dp.EnetIfaces,
		loader.EnetMapEnetNetworks:  dp.EnetNetworks,
		loader.EnetMapEnetSubnets:   dp.EnetSubnets,
		loader.EnetMapEnetStats:     dp.EnetStats,
		loader.EnetMapEnetCt:        dp.EnetCt,
		loader.EnetMapEnetNat:       dp.EnetNat,
		loader.EnetMapEnetCtNew:     dp.EnetCtNew,
		loader.EnetMapEnetNatNew:    dp.EnetNatNew,
		loader.EnetMapEnetPorts:     dp.EnetPorts,
		loader.EnetMapEnetSockRev:   dp.EnetSockRev,
		loader.EnetMapEnetDnsNs:     dp.EnetDnsNs,
		loader.EnetMapEnetDnsRev:    dp.EnetDnsRev,
		loader.EnetMapEnetDnsNames:  dp.EnetDnsNames,
		loader.EnetMapEnetFrags:     dp.EnetFrags,
		loader.EnetMapEnetNodeAddrs: dp.EnetNodeAddrs,
	}
}

// Usage reports how full each map of the datapath is, sorted by name.
func Usage(dp *loader.Datapath) []Use {
	out := []Use{}
	for name, mp := range pinned(dp) {
		out = append(out, Use{Name: name, Type: mp.Type().String(), Entries: countEntries(mp), MaxEntries: mp.MaxEntries()})
	}
	slices.SortFunc(out, func(a, b Use) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// countEntries walks a map's keys; the maps here are small enough. An
// entry deleted during the walk can make it count one twice.
func countEntries(mp *ebpf.Map) int {
	n := 0
	var key []byte
	next := make([]byte, mp.KeySize())
	for {
		var cur any
		if key != nil {
			cur = key
		}
		if err := mp.NextKey(cur, &next); err != nil {
			return n
		}
		n++
		key = append(key[:0], next...)
	}
}
