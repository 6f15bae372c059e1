package datapath

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/portspec"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

func parseSpecs(specs []string) ([]portspec.Spec, error) {
	if len(specs) == 0 {
		return nil, api.BadRequest("no port spec given")
	}
	out := make([]portspec.Spec, 0, len(specs))
	for _, s := range specs {
		sp, err := portspec.Parse(s)
		if err != nil {
			return nil, api.BadRequest("%v", err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Publish publishes ports of an endpoint.
func (m *Manager) Publish(ctx context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.publish(endpoint, req.Specs)
}

// publication is a port planned for publishing, with its reservation.
type publication struct {
	port store.Port
	fd   int
}

func (m *Manager) publish(endpoint string, specs []string) ([]api.Port, error) {
	parsed, err := parseSpecs(specs)
	if err != nil {
		return nil, err
	}
	var target netip.Addr
	var taken []store.Port
	err = m.store.View(func(tx *store.Tx) error {
		var err error
		if target, err = publishTarget(tx, endpoint); err != nil {
			return err
		}
		taken, err = tx.Ports()
		return err
	})
	if err != nil {
		return nil, err
	}
	pubs, err := planPorts(endpoint, parsed, taken)
	if err != nil {
		return nil, err
	}
	if err := m.commitPorts(pubs, target); err != nil {
		release(pubs)
		return nil, err
	}
	return m.published(endpoint, pubs, target), nil
}

// published finishes publications the store and the datapath hold: the
// endpoint's masquerade flows from their ports go (see masqueradeFrom),
// and they are reported as the API shows them.
func (m *Manager) published(endpoint string, pubs []publication, target netip.Addr) []api.Port {
	if err := m.flushFlows(masqueradeFrom(pubs, target)); err != nil {
		m.log.Warn("remove masquerade flows from published ports", zapEp(endpoint), zapErr(err))
	}
	out := make([]api.Port, len(pubs))
	for i, p := range pubs {
		out[i] = portView(&p.port, target)
	}
	m.log.Info("ports published", zapEp(endpoint), zapInt("ports", len(pubs)))
	return out
}

// publishTarget is the address published ports of an endpoint lead to:
// that of its first interface, the one with the default route.
func publishTarget(tx *store.Tx, endpoint string) (netip.Addr, error) {
	ep, err := tx.Endpoint(endpoint)
	if err != nil {
		return netip.Addr{}, err
	}
	if ep == nil {
		return netip.Addr{}, api.NotFound("endpoint %q not found", endpoint)
	}
	if ep.State != store.StateReady || len(ep.Interfaces) == 0 {
		return netip.Addr{}, api.Conflict("endpoint %q has no interface to publish to", endpoint)
	}
	n, err := tx.Network(ep.Interfaces[0].Network)
	if err != nil {
		return netip.Addr{}, err
	}
	if err := noPublishOn(endpoint, n); err != nil {
		return netip.Addr{}, err
	}
	return publishedTo(ep), nil
}

func noPublishOn(endpoint string, n *store.Network) error {
	if n != nil && n.Internal {
		return api.Conflict("endpoint %q is on internal network %q: nothing can be published", endpoint, n.Name)
	}
	return nil
}

// publishedTo is where an endpoint's publications lead: the address of
// its first interface, the one with the default route.
func publishedTo(ep *store.Endpoint) netip.Addr {
	if len(ep.Interfaces) == 0 {
		return netip.Addr{}
	}
	return ep.Interfaces[0].IP
}

// planPublish reserves the host ports a new endpoint on n publishes.
func planPublish(tx *store.Tx, ep *store.Endpoint, n *store.Network, specs []portspec.Spec) ([]publication, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if err := noPublishOn(ep.Name, n); err != nil {
		return nil, err
	}
	taken, err := tx.Ports()
	if err != nil {
		return nil, err
	}
	return planPorts(ep.Name, specs, taken)
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

// planPorts turns specs into publications, each holding its reservation.
// On error nothing stays reserved.
func planPorts(endpoint string, specs []portspec.Spec, taken []store.Port) ([]publication, error) {
	var pubs []publication
	for _, sp := range specs {
		if err := sctpPublishable(sp); err != nil {
			release(pubs)
			return nil, err
		}
		for _, mp := range sp.Mappings() {
			p, err := planPort(sp, mp, taken)
			if err != nil {
				release(pubs)
				return nil, err
			}
			p.port.Endpoint = endpoint
			pubs = append(pubs, p)
			taken = append(taken, p.port)
		}
	}
	return pubs, nil
}

func planPort(sp portspec.Spec, mp portspec.Mapping, taken []store.Port) (publication, error) {
	port := store.Port{Proto: mp.Proto, HostIP: mp.HostIP, HostPort: mp.HostPort, CPort: mp.CPort}
	if sp.PickOne() {
		for hp := uint32(sp.HostFirst); hp <= uint32(sp.HostLast); hp++ {
			if clash(taken, port.Proto, port.HostIP, uint16(hp)) != nil {
				continue
			}
			if fd, _, err := reserve(port.Proto, port.HostIP, uint16(hp)); err == nil {
				port.HostPort = uint16(hp)
				return publication{port, fd}, nil
			}
		}
		return publication{}, api.Conflict("no free host port in %d-%d/%s", sp.HostFirst, sp.HostLast, sp.Proto)
	}
	if port.HostPort != 0 {
		if c := clash(taken, port.Proto, port.HostIP, port.HostPort); c != nil {
			return publication{}, api.Conflict("host port %d/%s is already published (endpoint %q, %s)",
				port.HostPort, port.Proto, c.Endpoint, c.Key())
		}
	}
	for tries := 0; tries < 16; tries++ {
		fd, got, err := reserve(port.Proto, port.HostIP, port.HostPort)
		if err != nil {
			return publication{}, err
		}
		if port.HostPort != 0 || clash(taken, port.Proto, port.HostIP, got) == nil {
			port.HostPort = got
			return publication{port, fd}, nil
		}
		unix.Close(fd) // a published port the kernel did not know held: ask again
	}
	return publication{}, api.Conflict("no free host port for %d/%s", mp.CPort, mp.Proto)
}

func release(pubs []publication) {
	for _, p := range pubs {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
	}
}

// commitPorts records publications in the store and the datapath, keeping
// their reservations; if either refuses, neither holds them.
func (m *Manager) commitPorts(pubs []publication, target netip.Addr) error {
	if err := m.store.Update(func(tx *store.Tx) error { return putPorts(tx, pubs) }); err != nil {
		return err
	}
	if err := m.activatePorts(pubs, target); err != nil {
		_ = m.store.Update(func(tx *store.Tx) error { return deletePorts(tx, pubs) })
		return err
	}
	return nil
}

func putPorts(tx *store.Tx, pubs []publication) error {
	for i := range pubs {
		if err := tx.PutPort(&pubs[i].port); err != nil {
			return err
		}
	}
	return nil
}

func deletePorts(tx *store.Tx, pubs []publication) error {
	var errs []error
	for i := range pubs {
		errs = append(errs, tx.DeletePort(&pubs[i].port))
	}
	return errors.Join(errs...)
}

// activatePorts puts stored publications in enet_ports and keeps their
// reservations; if the map refuses, it holds none of them.
func (m *Manager) activatePorts(pubs []publication, target netip.Addr) error {
	entries := make([]maps.Port, len(pubs))
	for i, p := range pubs {
		entries[i] = mapPort(&p.port, target)
	}
	if err := m.maps.Ports.PutAll(entries); err != nil {
		_ = m.maps.Ports.DeleteAll(entries)
		return err
	}
	for _, p := range pubs {
		m.reserved[p.port.Key()] = p.fd
	}
	return nil
}

func protoNumber(proto string) uint8 {
	switch proto {
	case "udp":
		return unix.IPPROTO_UDP
	case "sctp":
		return unix.IPPROTO_SCTP
	}
	return unix.IPPROTO_TCP
}

func mapPort(p *store.Port, target netip.Addr) maps.Port {
	return maps.Port{Proto: protoNumber(p.Proto), HostIP: p.HostIP, HostPort: p.HostPort,
		Target: netip.AddrPortFrom(target, p.CPort)}
}

func portView(p *store.Port, target netip.Addr) api.Port {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
	}
	return api.Port{Endpoint: p.Endpoint, Proto: p.Proto, HostIP: ip, HostPort: p.HostPort,
		ContainerPort: p.CPort, Target: netip.AddrPortFrom(target, p.CPort).String()}
}

// Unpublish removes the publications of an endpoint the specs select.
func (m *Manager) Unpublish(ctx context.Context, endpoint string, req api.Publish) ([]api.Port, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parsed, err := parseSpecs(req.Specs)
	if err != nil {
		return nil, err
	}
	out, err := m.unpublish(endpoint, func(p store.Port) bool {
		return slices.ContainsFunc(parsed, func(sp portspec.Spec) bool {
			return sp.Matches(portspec.Mapping{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, CPort: p.CPort})
		})
	})
	if err == nil && len(out) == 0 {
		return nil, api.NotFound("no publication of %q matches %s", endpoint, strings.Join(req.Specs, " "))
	}
	return out, err
}

// unpublish removes an endpoint's publications that match, their map
// entries, their reservations and the flows through them, so no sender
// keeps reaching the endpoint through a stale flow (moby #8795).
func (m *Manager) unpublish(endpoint string, match func(store.Port) bool) ([]api.Port, error) {
	var gone []store.Port
	var target netip.Addr
	// Looked up first: a transaction that changes nothing would still
	// rewrite the store file.
	err := m.store.View(func(tx *store.Tx) error {
		ep, err := tx.Endpoint(endpoint)
		if err != nil || ep == nil {
			return errors.Join(err, api.NotFound("endpoint %q not found", endpoint))
		}
		target = publishedTo(ep)
		gone, err = endpointPorts(tx, endpoint, match)
		return err
	})
	if err != nil || len(gone) == 0 {
		return []api.Port{}, err
	}
	err = m.store.Update(func(tx *store.Tx) error {
		gone, err = dropPorts(tx, endpoint, match)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.withdrawPorts(gone, target)
}

// endpointPorts lists an endpoint's publications that match.
func endpointPorts(tx *store.Tx, endpoint string, match func(store.Port) bool) ([]store.Port, error) {
	all, err := tx.Ports()
	return slices.DeleteFunc(all, func(p store.Port) bool { return p.Endpoint != endpoint || !match(p) }), err
}

// dropPorts deletes an endpoint's publications that match from the store.
func dropPorts(tx *store.Tx, endpoint string, match func(store.Port) bool) ([]store.Port, error) {
	gone, err := endpointPorts(tx, endpoint, match)
	for i := range gone {
		err = errors.Join(err, tx.DeletePort(&gone[i]))
	}
	return gone, err
}

// retargetPorts points publications at their endpoint's new address, and
// drops the flows through them that still lead to the old one.
func (m *Manager) retargetPorts(ports []store.Port, target netip.Addr) error {
	entries := make([]maps.Port, len(ports))
	for i := range ports {
		entries[i] = mapPort(&ports[i], target)
	}
	if err := m.maps.Ports.PutAll(entries); err != nil {
		return err
	}
	return m.flushFlows(func(f maps.Flow) bool { return slices.ContainsFunc(ports, flowThrough(f)) })
}

// withdrawPorts takes publications the store no longer has out of the
// datapath, with their reservations, flows and the node's sockets to them.
func (m *Manager) withdrawPorts(gone []store.Port, target netip.Addr) ([]api.Port, error) {
	out := []api.Port{}
	if len(gone) == 0 {
		return out, nil
	}
	entries := make([]maps.Port, len(gone))
	for i := range gone {
		entries[i] = mapPort(&gone[i], target)
		out = append(out, portView(&gone[i], target))
	}
	if err := m.maps.Ports.DeleteAll(entries); err != nil {
		return nil, err
	}
	for _, p := range gone {
		if fd, ok := m.reserved[p.Key()]; ok {
			unix.Close(fd)
			delete(m.reserved, p.Key())
		}
	}
	flushed := m.flushFlows(func(f maps.Flow) bool { return slices.ContainsFunc(gone, flowThrough(f)) })
	if err := m.endSockets(gone, target); err != nil {
		m.log.Warn("end the node's sockets to unpublished ports", zapEp(gone[0].Endpoint), zapErr(err))
	}
	return out, flushed
}

// masqueradeFrom selects an endpoint's masquerade flows from ports it now
// publishes, such as its reply to a datagram in flight when the port was
// last unpublished: one holds the tuple the replies of a published flow
// from that peer need, and would have the flow dropped until it expires.
func masqueradeFrom(pubs []publication, target netip.Addr) func(maps.Flow) bool {
	from := map[maps.Tuple]bool{}
	for _, p := range pubs {
		from[maps.Tuple{Proto: protoNumber(p.port.Proto), Src: netip.AddrPortFrom(target, p.port.CPort)}] = true
	}
	return func(f maps.Flow) bool {
		return f.Flags&loader.EnetCtFlagCT_F_SNAT != 0 && f.Flags&loader.EnetCtFlagCT_F_DNAT == 0 &&
			from[maps.Tuple{Proto: f.Tuple.Proto, Src: f.Tuple.Src}]
	}
}

// flowThrough says whether a flow came in through a published port.
func flowThrough(f maps.Flow) func(store.Port) bool {
	return func(p store.Port) bool {
		return f.Flags&loader.EnetCtFlagCT_F_DNAT != 0 && f.Tuple.Proto == protoNumber(p.Proto) &&
			f.Tuple.Dst.Port() == p.HostPort && (!p.HostIP.IsValid() || f.Tuple.Dst.Addr() == p.HostIP)
	}
}

// Ports lists publications, of one endpoint or of all.
func (m *Manager) Ports(ctx context.Context, endpoint string) ([]api.Port, error) {
	out := []api.Port{}
	err := m.store.View(func(tx *store.Tx) error {
		if endpoint != "" {
			if ep, err := tx.Endpoint(endpoint); err != nil || ep == nil {
				return errors.Join(err, api.NotFound("endpoint %q not found", endpoint))
			}
		}
		all, err := tx.Ports()
		if err != nil {
			return err
		}
		targets := map[string]netip.Addr{}
		for _, p := range all {
			if endpoint != "" && p.Endpoint != endpoint {
				continue
			}
			t, ok := targets[p.Endpoint]
			if !ok {
				if ep, err := tx.Endpoint(p.Endpoint); err == nil && ep != nil && len(ep.Interfaces) > 0 {
					t = ep.Interfaces[0].IP
				}
				targets[p.Endpoint] = t
			}
			out = append(out, portView(&p, t))
		}
		return nil
	})
	slices.SortFunc(out, func(a, b api.Port) int {
		return cmp.Or(strings.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.ContainerPort, b.ContainerPort),
			strings.Compare(a.Proto, b.Proto), strings.Compare(a.HostIP, b.HostIP))
	})
	return out, err
}

// BPFPorts lists enet_ports.
func (m *Manager) BPFPorts(ctx context.Context) ([]api.BPFPort, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	owner := map[netip.Addr]string{}
	for _, e := range nm.eps {
		for _, i := range e.Interfaces {
			owner[i.IP] = e.Name
		}
	}
	entries, err := m.maps.Ports.All()
	if err != nil {
		return nil, err
	}
	out := []api.BPFPort{}
	for _, p := range entries {
		ip := "0.0.0.0"
		if p.HostIP.IsValid() {
			ip = p.HostIP.String()
		}
		out = append(out, api.BPFPort{Proto: protoName(p.Proto), HostIP: ip, HostPort: p.HostPort,
			Target: p.Target.String(), Endpoint: owner[p.Target.Addr()]})
	}
	slices.SortFunc(out, func(a, b api.BPFPort) int { return int(a.HostPort) - int(b.HostPort) })
	return out, nil
}
