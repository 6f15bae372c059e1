package ports

import (
	"errors"
	"net/netip"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Restore makes enet_ports hold exactly the publications given, each
// leading to its endpoint's target, and takes again the reservations of
// the live ones; those of gone endpoints stay in the map unreserved, so
// what reaches them is refused by the node (see Release). A port some
// process took while the daemon was down stays published (the datapath
// does not need the socket) and is logged.
func (p *Publisher) Restore(live, gone []store.Port, targets map[string]netip.Addr) error {
	all := append(append([]store.Port{}, live...), gone...)
	want := mapPorts(all, func(port store.Port) netip.Addr { return targets[port.Endpoint] })
	for i := range live {
		p.rereserve(&live[i])
	}
	if err := p.ports.PutAll(want); err != nil {
		return err
	}
	return p.sweep(want)
}

// Release lets the host ports of a gone endpoint's publications go, and
// keeps their enet_ports entries: the datapath finds no endpoint behind
// them, counts the packet (drop-endpoint-gone) and leaves it to the
// node, which has no socket there and refuses it (TCP reset, ICMP port
// unreachable), as Docker's node does for a stopped container.
func (p *Publisher) Release(ports []store.Port) error {
	var errs []error
	for _, port := range ports {
		if res, ok := p.held[port.Key()]; ok {
			errs = append(errs, res.Close())
			delete(p.held, port.Key())
		}
	}
	return errors.Join(errs...)
}

// Reactivate publishes again what Release or Withdraw took out: the
// reservations, taken again where the port is free, and the entries.
func (p *Publisher) Reactivate(ports []store.Port, target netip.Addr) error {
	for i := range ports {
		p.rereserve(&ports[i])
	}
	return p.ports.PutAll(mapPorts(ports, func(store.Port) netip.Addr { return target }))
}

func (p *Publisher) rereserve(port *store.Port) {
	if _, ok := p.held[port.Key()]; ok || port.Unheld {
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
