package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/control"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/resolver"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/maps"
)

// startResolver starts the networks' resolvers on the store's names.
// The returned func stops them.
func (d *daemon) startResolver() (func(), error) {
	ups := resolver.FixedUpstreams(d.cfg.DNS)
	if len(d.cfg.DNS) == 0 {
		path := d.cfg.ResolvConf
		if path == "" {
			path = DefaultResolvConf
		}
		ups = resolver.FileUpstreams(path)
	}
	if len(ups.Get()) == 0 {
		d.log.Warn("names: no upstream resolvers (set --dns, or fill --resolv-conf): only the networks' names are answered")
	}
	d.res = resolver.New(maps.DNSResolverPort, ups, d.log)
	nets, eps, err := d.store.NetworksAndEndpoints()
	if err != nil {
		return nil, err
	}
	d.res.Sync(nets, eps)
	d.log.Info("resolvers serving on the networks' gateways", logf.Str("upstreams", fmt.Sprint(ups.Get())))
	return d.res.Close, nil
}

// follower is what has the resolvers, enet_dns_ns, enet_dns_names and
// the endpoints' resolv.conf follow every change the orchestrator makes.
func (d *daemon) follower() control.Names {
	return &names{res: d.res, stub: d.maps.DNSNetns, fast: d.maps.DNSNames, owner: d.cfg.StateDir, log: d.log}
}

// names follows the store for the resolver and what leads endpoints to
// it: enet_dns_ns, which has the socket programs send an endpoint's
// 127.0.0.11:53 to its first network's gateway, and the resolv.conf of
// the endpoints whose namespace ebpfnet made. Sync runs under the
// orchestrator's lock, one at a time.
type names struct {
	res   *resolver.Resolver
	stub  maps.DNSNetns
	owner string // the state dir, marking the resolv.conf files of this daemon's
	log   *zap.Logger

	fast    maps.DNSNames
	stubs   map[uint64]netip.Addr         // what enet_dns_ns holds; nil until read
	held    map[maps.DNSName][]netip.Addr // what enet_dns_names holds; nil until read
	cookies map[string]uint64             // endpoint -> its namespace's cookie
	written map[string]string             // endpoints given a resolv.conf, and its direct servers; nil until the first sync
}

func (n *names) Sync(nets []store.Network, eps []store.Endpoint) {
	n.res.Sync(nets, eps)
	if err := n.syncFast(nets); err != nil {
		n.log.Warn("names: enet_dns_names", logf.Err(err))
	}
	if err := n.syncStubs(nets, eps); err != nil {
		n.log.Warn("names: enet_dns_ns", logf.Err(err))
	}
	if err := n.syncResolvConfs(eps); err != nil {
		n.log.Warn("names: resolv.conf", logf.Err(err))
	}
}

// syncFast gives enet_dns_names the names enet_from_ep can answer
// itself: those of at most maps.DNSAddrsMax addresses and a short enough
// name. The resolver answers the others.
func (n *names) syncFast(nets []store.Network) error {
	if n.held == nil {
		all, err := n.fast.All()
		if err != nil {
			return err
		}
		n.held = all
	}
	ids := map[string]uint32{}
	for _, nw := range nets {
		ids[nw.Name] = nw.ID
	}
	want := map[maps.DNSName][]netip.Addr{}
	for _, s := range n.res.Names() {
		if id, ok := ids[s.Network]; ok && maps.DNSFits(s.Name, len(s.Addrs)) {
			want[maps.DNSName{NetID: id, Name: s.Name}] = s.Addrs
		}
	}
	var err error
	n.held, err = n.fast.Sync(n.held, want)
	return err
}

// stubbed says whether an endpoint's 127.0.0.11 leads to a resolver:
// it is ready and in a namespace ebpfnet knows, with an interface.
func stubbed(e *store.Endpoint) bool {
	return e.State == store.StateReady && !e.Handoff && e.Netns != "" && len(e.Interfaces) > 0
}

// syncStubs makes enet_dns_ns map each stubbed endpoint's namespace to
// its first network's gateway, and nothing else.
func (n *names) syncStubs(nets []store.Network, eps []store.Endpoint) error {
	if n.stubs == nil {
		all, err := n.stub.All()
		if err != nil {
			return err
		}
		n.stubs, n.cookies = all, map[string]uint64{}
	}
	gateways := map[string]netip.Addr{}
	for _, nw := range nets {
		gateways[nw.Name] = nw.Gateway
	}
	want, cookies := map[uint64]netip.Addr{}, map[string]uint64{}
	var errs []error
	for i := range eps {
		e := &eps[i]
		if !stubbed(e) {
			continue
		}
		gw, ok := gateways[e.Interfaces[0].Network]
		if !ok {
			continue
		}
		cookie, err := n.cookie(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		want[cookie], cookies[e.Name] = gw, cookie
	}
	n.cookies = cookies
	var err error
	n.stubs, err = n.stub.Sync(n.stubs, want)
	return errors.Join(append(errs, err)...)
}

// cookie is an endpoint's namespace's, read once per namespace.
func (n *names) cookie(e *store.Endpoint) (uint64, error) {
	if c, ok := n.cookies[e.Name]; ok {
		return c, nil
	}
	c, err := netdev.NetnsCookie(e.Netns)
	if err != nil {
		return 0, fmt.Errorf("endpoint %s: %w", e.Name, err)
	}
	return c, nil
}

// syncResolvConfs gives every ready endpoint in a namespace ebpfnet made
// its /etc/netns/NAME/resolv.conf, and removes those of the others. The
// first sync also removes what an earlier daemon left.
func (n *names) syncResolvConfs(eps []store.Endpoint) error {
	keep, sigs := map[string]bool{}, map[string]string{}
	var errs []error
	for i := range eps {
		e := &eps[i]
		if !e.OwnNetns || e.State == store.StateRemoving {
			continue
		}
		direct := n.direct(e)
		keep[e.Name], sigs[e.Name] = true, strings.Join(direct, " ")
		if sig, ok := n.written[e.Name]; ok && sig == sigs[e.Name] {
			continue
		}
		if err := resolver.WriteResolvConf(n.owner, e.Name, e.DNS, direct); err != nil {
			errs = append(errs, err)
		}
	}
	if n.written == nil {
		errs = append(errs, resolver.RemoveResolvConfs(n.owner, keep))
	} else {
		for name := range n.written {
			if !keep[name] {
				errs = append(errs, resolver.RemoveResolvConf(n.owner, name))
			}
		}
	}
	n.written = sigs
	return errors.Join(errs...)
}

// direct is the servers an endpoint with no bridge network (none, or
// only macvlan and ipvlan ones) asks itself: its own --dns, else the
// daemon's upstreams as they are now. It is not rewritten when they change.
func (n *names) direct(e *store.Endpoint) []string {
	if len(e.Interfaces) > 0 {
		return nil
	}
	if len(e.DNS.Servers) > 0 {
		return e.DNS.Servers
	}
	var out []string
	for _, u := range n.res.Upstreams() {
		if u.Port() == 53 {
			out = append(out, u.Addr().String())
		}
	}
	return out
}

// DNSRecords serves `ebpfnet dns ls`.
func (b backend) DNSRecords(ctx context.Context, network string) ([]api.DNSRecord, error) {
	if network != "" {
		if _, err := b.Network(ctx, network); err != nil {
			return nil, err
		}
	}
	out := []api.DNSRecord{}
	for _, r := range b.d.res.Records(network) {
		out = append(out, api.DNSRecord{Network: r.Network, Name: r.Name, Type: r.Type, Values: r.Values})
	}
	return out, nil
}

// DNSStatus serves `ebpfnet dns stats`.
func (b backend) DNSStatus(context.Context) (*api.DNSStatus, error) {
	s := &api.DNSStatus{Stub: resolver.Stub, Listening: map[string]string{}, Upstreams: []string{},
		Counts: b.d.res.Stats.Counts()}
	for n, a := range b.d.res.Listening() {
		s.Listening[n] = a.String()
	}
	for _, u := range b.d.res.Upstreams() {
		s.Upstreams = append(s.Upstreams, u.String())
	}
	return s, nil
}
