// Package resolver is the daemon's DNS server: one per network, on the
// network's gateway address, answering its endpoints for the names of
// the endpoints they share a network with (names and aliases, A and
// PTR) and forwarding every other name upstream, as Docker's embedded
// DNS does. Its names come from the store: the orchestrator hands it the
// networks and endpoints after every change, before the change's call
// returns, so the next query has them.
package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Table is the names the resolver serves at one moment. It is never
// changed once built: a change builds a new one.
type Table struct {
	nets map[string]*netNames
}

// netNames is one network's names: who may ask, and what they get.
type netNames struct {
	name     string
	lower    string // the name as a DNS suffix matches it
	gateway  netip.Addr
	subnet   netip.Prefix
	internal bool
	names    map[string]*rrset     // lower-case name or alias -> addresses
	ptr      map[netip.Addr]string // address -> "endpoint.network"
	members  map[netip.Addr]*asker
}

// asker is an endpoint as the resolver sees it: its networks, in the
// order of its interfaces, and its own upstream servers, if any.
type asker struct {
	name      string
	nets      []string
	upstreams []netip.AddrPort
}

// rrset is the addresses of one name on one network. Each answer starts
// one further along, so the addresses of an alias take turns first.
type rrset struct {
	addrs []netip.Addr
	next  atomic.Uint32
}

// rotated is the set's addresses, starting at the next in turn.
func (r *rrset) rotated() []netip.Addr {
	n := len(r.addrs)
	start := int(r.next.Add(1)-1) % n
	out := make([]netip.Addr, 0, n)
	out = append(out, r.addrs[start:]...)
	return append(out, r.addrs[:start]...)
}

// Build makes the table of the store's networks and endpoints. Endpoints
// that are gone or being removed have no names: nothing reaches them.
func Build(nets []store.Network, eps []store.Endpoint) *Table {
	t := &Table{nets: make(map[string]*netNames, len(nets))}
	for _, n := range nets {
		t.nets[n.Name] = &netNames{name: n.Name, lower: strings.ToLower(n.Name), gateway: n.Gateway,
			subnet: n.Subnet, internal: n.Internal,
			names: map[string]*rrset{}, ptr: map[netip.Addr]string{}, members: map[netip.Addr]*asker{}}
	}
	for i := range eps {
		if eps[i].State == store.StateReady {
			t.add(&eps[i])
		}
	}
	return t
}

func (t *Table) add(e *store.Endpoint) {
	a := &asker{name: e.Name, upstreams: upstreams(e.DNS.Servers)}
	for _, ifc := range e.Interfaces {
		n := t.nets[ifc.Network]
		if n == nil {
			continue
		}
		a.nets = append(a.nets, n.name)
		n.members[ifc.IP] = a
		n.ptr[ifc.IP] = e.Name + "." + n.name
		n.addName(e.Name, ifc.IP)
		for _, al := range ifc.Aliases {
			n.addName(al, ifc.IP)
		}
	}
}

func (n *netNames) addName(name string, ip netip.Addr) {
	key := strings.ToLower(name)
	r := n.names[key]
	if r == nil {
		r = &rrset{}
		n.names[key] = r
	}
	if !slices.Contains(r.addrs, ip) {
		r.addrs = append(r.addrs, ip)
	}
}

// upstreams reads an endpoint's --dns servers; the store holds only
// valid IPv4 addresses.
func upstreams(servers []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53))
		}
	}
	return out
}

// asker is the endpoint behind src on network, or nil: nobody the
// network's resolver answers.
func (t *Table) asker(network string, src netip.Addr) *asker {
	if n := t.nets[network]; n != nil {
		return n.members[src.Unmap()]
	}
	return nil
}

// allows says whether src is an endpoint of network.
func (t *Table) allows(network string, src netip.Addr) bool { return t.asker(network, src) != nil }

// order is the networks an asker's names come from: the one it asked
// on first, then its others.
func (t *Table) order(a *asker, asked string) []*netNames {
	out := []*netNames{t.nets[asked]}
	for _, name := range a.nets {
		if name != asked && t.nets[name] != nil {
			out = append(out, t.nets[name])
		}
	}
	return out
}

// lookup finds a lower-case name, without its final dot, on the
// networks the asker shares: NAME, or NAME.NETWORK on that network.
func (t *Table) lookup(a *asker, asked, name string) (*rrset, bool) {
	nets := t.order(a, asked)
	for _, n := range nets {
		if r := n.names[name]; r != nil {
			return r, true
		}
	}
	for _, n := range nets {
		if base, ok := strings.CutSuffix(name, "."+n.lower); ok {
			if r := n.names[base]; r != nil {
				return r, true
			}
		}
	}
	return nil, false
}

// reverse finds the name of an address on the asker's networks. ours
// says whether the address is in one of their subnets, where the
// resolver has the last word.
func (t *Table) reverse(a *asker, asked string, addr netip.Addr) (name string, ours bool) {
	for _, n := range t.order(a, asked) {
		if name, ok := n.ptr[addr]; ok {
			return name, true
		}
		ours = ours || n.subnet.Contains(addr)
	}
	return "", ours
}

// forwards says whether an asker's other names go upstream: not when
// all its networks are internal, which have no way out.
func (t *Table) forwards(a *asker) bool {
	for _, name := range a.nets {
		if n := t.nets[name]; n != nil && !n.internal {
			return true
		}
	}
	return false
}
