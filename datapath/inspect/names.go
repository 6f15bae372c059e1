package inspect

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/monitor"
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

// MonitorNames are the names the monitor shows: every endpoint's host
// veths and addresses, the networks' bridges, and the node's other
// devices by name.
func (in *Inspector) MonitorNames() (monitor.Names, error) {
	nm, err := in.names()
	out := monitor.Names{Ifaces: map[int]monitor.Owner{}, Addrs: map[netip.Addr]monitor.Owner{}}
	for _, n := range nm.nets {
		if idx := in.dev.LinkIndex(n.Bridge); n.Bridge != "" && idx > 0 {
			out.Ifaces[idx] = monitor.Owner{Name: n.Bridge, Network: n.Name}
		}
	}
	for _, e := range nm.eps {
		for _, i := range e.Interfaces {
			out.Addrs[i.IP] = monitor.Owner{Name: i.Name, Endpoint: e.Name, Network: i.Network}
			if idx := in.dev.LinkIndex(i.HostName); i.HostName != "" && idx > 0 {
				out.Ifaces[idx] = monitor.Owner{Name: i.HostName, Endpoint: e.Name, Network: i.Network}
			}
		}
	}
	links, lerr := in.dev.Links()
	for _, l := range links {
		if _, ok := out.Ifaces[l.Index]; !ok {
			out.Ifaces[l.Index] = monitor.Owner{Name: l.Name}
		}
	}
	return out, errors.Join(err, lerr)
}
