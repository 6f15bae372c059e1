package ports

import (
	"net/netip"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Restore makes enet_ports hold exactly the publications given, each
// leading to its endpoint's target, and takes their reservations again. A
// port some process took while the daemon was down stays published (the
// datapath does not need the socket) and is logged.
func (p *Publisher) Restore(ports []store.Port, targets map[string]netip.Addr) error {
	want := mapPorts(ports, func(port store.Port) netip.Addr { return targets[port.Endpoint] })
	for i := range ports {
		p.rereserve(&ports[i])
	}
	if err := p.ports.PutAll(want); err != nil {
		return err
	}
	return p.sweep(want)
}

func (p *Publisher) rereserve(port *store.Port) {
	if _, ok := p.held[port.Key()]; ok {
		return
	}
	res, _, err := Reserve(port.Proto, port.HostIP, port.HostPort)
	if err != nil {
		p.log.Warn("published port is held by another socket on the node", logf.Str("port", port.Key()), logf.Err(err))
		return
	}
	p.held[port.Key()] = res
}

// sweep removes enet_ports entries of no publication.
func (p *Publisher) sweep(want []maps.Port) error {
	type key struct {
		proto uint8
		ip    netip.Addr
		port  uint16
	}
	keep := map[key]bool{}
	for _, w := range want {
		keep[key{w.Proto, w.HostIP, w.HostPort}] = true
	}
	have, err := p.ports.All()
	if err != nil {
		return err
	}
	var stale []maps.Port
	for _, h := range have {
		if !keep[key{h.Proto, h.HostIP, h.HostPort}] {
			stale = append(stale, h)
		}
	}
	return p.ports.DeleteAll(stale)
}
