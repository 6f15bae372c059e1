package ports

import (
	"errors"
	"net/netip"
	"slices"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Flows removes flows from the datapath (datapath/flows).
type Flows interface {
	Flush(match func(maps.Flow) bool) error
}

// Publisher is what the datapath and the node hold for publications: the
// enet_ports entries, the reservations, and the flows and node sockets
// that lead through them. The orchestrator serializes its calls.
type Publisher struct {
	ports maps.Ports
	revs  maps.SockRevs
	flows Flows
	log   *zap.Logger
	held  map[string]*Reservation // by store.Port.Key
}

// NewPublisher is the publisher of a loaded datapath.
func NewPublisher(ports maps.Ports, revs maps.SockRevs, flows Flows, log *zap.Logger) *Publisher {
	return &Publisher{ports: ports, revs: revs, flows: flows, log: log, held: map[string]*Reservation{}}
}

// ProtoNumber is a publication's protocol as the datapath keys it.
func ProtoNumber(proto string) uint8 {
	switch proto {
	case "udp":
		return unix.IPPROTO_UDP
	case "sctp":
		return unix.IPPROTO_SCTP
	}
	return unix.IPPROTO_TCP
}

// MapPort is a publication's enet_ports entry.
func MapPort(p *store.Port, target netip.Addr) maps.Port {
	return maps.Port{Proto: ProtoNumber(p.Proto), HostIP: p.HostIP, HostPort: p.HostPort,
		Target: netip.AddrPortFrom(target, p.CPort)}
}

func mapPorts(ps []store.Port, target func(store.Port) netip.Addr) []maps.Port {
	out := make([]maps.Port, len(ps))
	for i := range ps {
		out[i] = MapPort(&ps[i], target(ps[i]))
	}
	return out
}

// Activate puts stored publications in enet_ports and keeps their
// reservations; if the map refuses, it holds none of them.
func (p *Publisher) Activate(pubs []Publication, target netip.Addr) error {
	entries := make([]maps.Port, len(pubs))
	for i := range pubs {
		entries[i] = MapPort(&pubs[i].Port, target)
	}
	if err := p.ports.PutAll(entries); err != nil {
		return errors.Join(err, p.ports.DeleteAll(entries))
	}
	for _, pub := range pubs {
		if pub.res != nil { // an Unheld port's is the runtime's
			p.held[pub.Port.Key()] = pub.res
		}
	}
	return nil
}

// Published finishes publications the store and the datapath hold: the
// endpoint's masquerade flows from their ports go (see masqueradeFrom).
func (p *Publisher) Published(endpoint string, pubs []Publication, target netip.Addr) {
	if err := p.flows.Flush(masqueradeFrom(pubs, target)); err != nil {
		p.log.Warn("remove masquerade flows from published ports", logf.Ep(endpoint), logf.Err(err))
	}
	p.log.Info("ports published", logf.Ep(endpoint), logf.Int("ports", len(pubs)))
}

// Withdraw takes publications the store no longer has out of the
// datapath, with their reservations, the flows through them and the
// node's sockets to them, so no sender keeps reaching the endpoint through
// a stale flow (moby #8795).
func (p *Publisher) Withdraw(gone []store.Port, target netip.Addr) error {
	if len(gone) == 0 {
		return nil
	}
	if err := p.ports.DeleteAll(mapPorts(gone, func(store.Port) netip.Addr { return target })); err != nil {
		return err
	}
	var errs []error
	for _, port := range gone {
		if res, ok := p.held[port.Key()]; ok {
			errs = append(errs, res.Close())
			delete(p.held, port.Key())
		}
	}
	errs = append(errs, p.flows.Flush(func(f maps.Flow) bool { return slices.ContainsFunc(gone, through(f)) }))
	if err := p.endSockets(gone, target); err != nil {
		p.log.Warn("end the node's sockets to unpublished ports", logf.Ep(gone[0].Endpoint), logf.Err(err))
	}
	return errors.Join(errs...)
}

// Retarget points publications at their endpoint's new address, and drops
// the flows through them that still lead to the old one.
func (p *Publisher) Retarget(ports []store.Port, target netip.Addr) error {
	if err := p.ports.PutAll(mapPorts(ports, func(store.Port) netip.Addr { return target })); err != nil {
		return err
	}
	return p.flows.Flush(func(f maps.Flow) bool { return slices.ContainsFunc(ports, through(f)) })
}

// Close lets every host port go, as the daemon exits, before its API
// socket goes, so a daemon started as soon as the socket is gone can take
// them again. The datapath keeps the publications.
func (p *Publisher) Close() error {
	var errs []error
	for k, res := range p.held {
		errs = append(errs, res.Close())
		delete(p.held, k)
	}
	return errors.Join(errs...)
}

// masqueradeFrom selects an endpoint's masquerade flows from ports it now
// publishes, such as its reply to a datagram in flight when the port was
// last unpublished: one holds the tuple the replies of a published flow
// from that peer need, and would have the flow dropped until it expires.
func masqueradeFrom(pubs []Publication, target netip.Addr) func(maps.Flow) bool {
	from := map[maps.Tuple]bool{}
	for _, pub := range pubs {
		from[maps.Tuple{Proto: ProtoNumber(pub.Port.Proto), Src: netip.AddrPortFrom(target, pub.Port.CPort)}] = true
	}
	return func(f maps.Flow) bool {
		return f.Masquerade() && from[maps.Tuple{Proto: f.Tuple.Proto, Src: f.Tuple.Src}]
	}
}

// through says whether a flow came in through a publication.
func through(f maps.Flow) func(store.Port) bool {
	return func(p store.Port) bool {
		return f.Published() && f.Tuple.Proto == ProtoNumber(p.Proto) &&
			f.Tuple.Dst.Port() == p.HostPort && (!p.HostIP.IsValid() || f.Tuple.Dst.Addr() == p.HostIP)
	}
}
