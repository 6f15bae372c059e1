// Package ports publishes endpoint ports on the node, as docker's -p does:
// it plans publications and holds their host ports (Reservation), writes
// them to enet_ports, and when they go, removes the flows through them
// and ends the node's sockets the socket programs pointed at them. The
// orchestrator (datapath/control) runs the store transactions around it.
package ports

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Target is where an endpoint's publications lead: the address of its
// first interface, the one with the default route. Publications follow
// it: when that interface goes, they move to the next one, or go with
// the last. This is the one place that rule is written.
func Target(ep *store.Endpoint) netip.Addr {
	if len(ep.Interfaces) == 0 || !ep.Interfaces[0].Veth() {
		return netip.Addr{}
	}
	return ep.Interfaces[0].IP
}

// ParseSpecs reads docker -p specs.
func ParseSpecs(specs []string) ([]portspec.Spec, error) {
	if len(specs) == 0 {
		return nil, errdefs.Invalid("no port spec given")
	}
	out := make([]portspec.Spec, 0, len(specs))
	for _, s := range specs {
		sp, err := portspec.Parse(s)
		if err != nil {
			return nil, errdefs.Invalid("%v", err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Allowed says whether an endpoint on network n may publish: nothing on
// an internal network can be reached from outside.
func Allowed(endpoint string, n *store.Network) error {
	if n != nil && !n.Bridged() {
		return errdefs.Conflict("endpoint %q is on %s network %q: it is on the LAN directly, with an address of its "+
			"own, so nothing is published for it", endpoint, n.Driver, n.Name)
	}
	if n != nil && n.Internal {
		return errdefs.Conflict("endpoint %q is on internal network %q: nothing can be published", endpoint, n.Name)
	}
	return nil
}

// Publication is a port planned for publishing, with its reservation.
type Publication struct {
	Port store.Port
	res  *Reservation
}

// Release lets the planned publications' host ports go.
func Release(pubs []Publication) {
	for _, p := range pubs {
		_ = p.res.Close() // nothing was published on it yet
	}
}

// Plan turns specs into publications of an endpoint, each holding its
// reservation; taken is every publication the store holds. On error
// nothing stays reserved.
func Plan(endpoint string, specs []portspec.Spec, taken []store.Port) ([]Publication, error) {
	return plan(endpoint, specs, taken, false)
}

// PlanUnheld is Plan for host ports the runtime holds itself (a CNI
// runtime's portMappings): none is reserved, a fixed host port is
// needed, and only ebpfnet's own publications can clash with one.
func PlanUnheld(endpoint string, specs []portspec.Spec, taken []store.Port) ([]Publication, error) {
	for _, sp := range specs {
		if sp.PickOne() || sp.HostFirst == 0 {
			return nil, errdefs.Invalid("a port the runtime holds needs its host port: %d/%s has none", sp.CPortFirst, sp.Proto)
		}
	}
	return plan(endpoint, specs, taken, true)
}

func plan(endpoint string, specs []portspec.Spec, taken []store.Port, unheld bool) ([]Publication, error) {
	var pubs []Publication
	for _, sp := range specs {
		if err := sctpPublishable(sp); err != nil {
			Release(pubs)
			return nil, err
		}
		for _, mp := range sp.Mappings() {
			p, err := planPort(sp, mp, taken, unheld)
			if err != nil {
				Release(pubs)
				return nil, err
			}
			p.Port.Endpoint = endpoint
			pubs = append(pubs, p)
			taken = append(taken, p.Port)
		}
	}
	return pubs, nil
}

func planPort(sp portspec.Spec, mp portspec.Mapping, taken []store.Port, unheld bool) (Publication, error) {
	port := store.Port{Proto: mp.Proto, HostIP: mp.HostIP, HostPort: mp.HostPort, CPort: mp.CPort, Unheld: unheld}
	if unheld {
		if c := clash(taken, port.Proto, port.HostIP, port.HostPort); c != nil {
			return Publication{}, allocated(port, c)
		}
		return Publication{Port: port}, nil
	}
	if sp.PickOne() {
		for hp := uint32(sp.HostFirst); hp <= uint32(sp.HostLast); hp++ {
			if clash(taken, port.Proto, port.HostIP, uint16(hp)) != nil {
				continue
			}
			if res, _, err := Reserve(port.Proto, port.HostIP, uint16(hp)); err == nil {
				port.HostPort = uint16(hp)
				return Publication{port, res}, nil
			}
		}
		return Publication{}, errdefs.Limit("no free host port in %d-%d/%s", sp.HostFirst, sp.HostLast, sp.Proto)
	}
	if port.HostPort != 0 {
		if c := clash(taken, port.Proto, port.HostIP, port.HostPort); c != nil {
			return Publication{}, allocated(port, c)
		}
	}
	for range 16 {
		res, got, err := Reserve(port.Proto, port.HostIP, port.HostPort)
		if err != nil {
			return Publication{}, err
		}
		if port.HostPort != 0 || clash(taken, port.Proto, port.HostIP, got) == nil {
			port.HostPort = got
			return Publication{port, res}, nil
		}
		_ = res.Close() // a published port the kernel did not know held: ask again
	}
	return Publication{}, errdefs.Limit("no free host port for %d/%s", mp.CPort, mp.Proto)
}

// allocated is Docker's error for a host port another publication holds
// (moby's portallocator), with the endpoint that holds it.
func allocated(want store.Port, holder *store.Port) error {
	ip := "0.0.0.0"
	if want.HostIP.IsValid() {
		ip = want.HostIP.String()
	}
	return errdefs.Conflict("Bind for %s:%d failed: port is already allocated (endpoint %q publishes %d/%s)",
		ip, want.HostPort, holder.Endpoint, holder.HostPort, holder.Proto)
}

// clash is a publication that would take the same host port: the same
// protocol and port on the same address, or either on every address.
func clash(taken []store.Port, proto string, ip netip.Addr, port uint16) *store.Port {
	for i, t := range taken {
		if t.Proto == proto && t.HostPort == port && (!t.HostIP.IsValid() || !ip.IsValid() || t.HostIP == ip) {
			return &taken[i]
		}
	}
	return nil
}

// Put records publications in a store transaction.
func Put(tx *store.Tx, pubs []Publication) error {
	for i := range pubs {
		if err := tx.PutPort(&pubs[i].Port); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes publications from a store transaction.
func Delete(tx *store.Tx, pubs []Publication) error {
	var errs []error
	for i := range pubs {
		errs = append(errs, tx.DeletePort(&pubs[i].Port))
	}
	return errors.Join(errs...)
}

// Of lists an endpoint's stored publications that match.
func Of(tx *store.Tx, endpoint string, match func(store.Port) bool) ([]store.Port, error) {
	all, err := tx.Ports()
	return slices.DeleteFunc(all, func(p store.Port) bool { return p.Endpoint != endpoint || !match(p) }), err
}

// Drop deletes an endpoint's stored publications that match, and returns
// them.
func Drop(tx *store.Tx, endpoint string, match func(store.Port) bool) ([]store.Port, error) {
	gone, err := Of(tx, endpoint, match)
	for i := range gone {
		err = errors.Join(err, tx.DeletePort(&gone[i]))
	}
	return gone, err
}

// All matches every publication.
func All(store.Port) bool { return true }
