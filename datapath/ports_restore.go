package datapath

import (
	"errors"
	"net/netip"

	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// restorePorts makes enet_ports hold exactly the stored publications of
// live endpoints, and takes their reservations again. A port some process
// took while the daemon was down stays published (the datapath does not
// need the socket) and is logged.
func (m *Manager) restorePorts(eps []store.Endpoint) error {
	targets := map[string]netip.Addr{}
	for _, e := range eps {
		if len(e.Interfaces) > 0 {
			targets[e.Name] = e.Interfaces[0].IP
		}
	}
	var ports []store.Port
	err := m.store.Update(func(tx *store.Tx) error {
		all, err := tx.Ports()
		for _, p := range all {
			if _, ok := targets[p.Endpoint]; ok {
				ports = append(ports, p)
			} else {
				err = errors.Join(err, tx.DeletePort(&p))
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	want := make([]maps.Port, len(ports))
	for i := range ports {
		want[i] = mapPort(&ports[i], targets[ports[i].Endpoint])
		m.rereserve(&ports[i])
	}
	if err := m.maps.Ports.PutAll(want); err != nil {
		return err
	}
	return m.sweepPorts(want)
}

func (m *Manager) rereserve(p *store.Port) {
	if _, ok := m.reserved[p.Key()]; ok {
		return
	}
	fd, _, err := reserve(p.Proto, p.HostIP, p.HostPort)
	if err != nil {
		m.log.Warn("published port is held by another socket on the node", zapStr("port", p.Key()), zapErr(err))
		return
	}
	m.reserved[p.Key()] = fd
}

func (m *Manager) sweepPorts(want []maps.Port) error {
	type key struct {
		proto uint8
		ip    netip.Addr
		port  uint16
	}
	keep := map[key]bool{}
	for _, p := range want {
		keep[key{p.Proto, p.HostIP, p.HostPort}] = true
	}
	have, err := m.maps.Ports.All()
	if err != nil {
		return err
	}
	var stale []maps.Port
	for _, p := range have {
		if !keep[key{p.Proto, p.HostIP, p.HostPort}] {
			stale = append(stale, p)
		}
	}
	return m.maps.Ports.DeleteAll(stale)
}
