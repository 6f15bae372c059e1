package inspect

import (
	"net/netip"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// names resolves datapath ids to what the user calls them.
type names struct {
	networks map[uint32]string
	ifaces   map[int]string // host ifindex -> host device name
	owners   map[int]string // host ifindex -> endpoint
	eps      []store.Endpoint
	nets     []store.Network
}

func (in *Inspector) names() (names, error) {
	nm := names{networks: map[uint32]string{}, ifaces: map[int]string{}, owners: map[int]string{}}
	err := in.store.View(func(tx *store.Tx) error {
		var err error
		if nm.nets, err = tx.Networks(); err != nil {
			return err
		}
		for _, n := range nm.nets {
			nm.networks[n.ID] = n.Name
		}
		nm.eps, err = tx.Endpoints()
		return err
	})
	for _, e := range nm.eps {
		for _, i := range e.Interfaces {
			if idx := in.dev.LinkIndex(i.HostName); idx > 0 {
				nm.ifaces[idx] = i.HostName
				nm.owners[idx] = e.Name
			}
		}
	}
	return nm, err
}

func (in *Inspector) ifname(nm names, idx int) string {
	if n, ok := nm.ifaces[idx]; ok {
		return n
	}
	return in.dev.LinkName(idx)
}

// owner maps each endpoint address to its endpoint.
func (nm names) owner() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, e := range nm.eps {
		for _, i := range e.Interfaces {
			out[i.IP] = e.Name
		}
	}
	return out
}

func compareIP(a, b string) int {
	x, err1 := netip.ParseAddr(a)
	y, err2 := netip.ParseAddr(b)
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y)
}

func seconds(ns int64) float64 { return float64(ns/1e6) / 1e3 }
