package resolver

import (
	"cmp"
	"net/netip"
	"slices"
)

// Record is one name a network's resolver serves and what it answers.
type Record struct {
	Network string
	Name    string // lower case; with the network's name appended it answers too
	Type    string // A or PTR
	Values  []string
}

// Records lists what the resolvers serve now: every network's, or one's.
func (r *Resolver) Records(network string) []Record {
	var out []Record
	for _, n := range r.table.Load().nets {
		if network != "" && n.name != network {
			continue
		}
		for name, rr := range n.names {
			out = append(out, Record{Network: n.name, Name: name, Type: "A", Values: addrStrings(rr.addrs)})
		}
		for addr, name := range n.ptr {
			out = append(out, Record{Network: n.name, Name: addr.String(), Type: "PTR", Values: []string{name}})
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Network, b.Network), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Listening lists the networks whose resolver is serving, and where.
func (r *Resolver) Listening() map[string]netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]netip.AddrPort{}
	for name, s := range r.servers {
		out[name] = netip.AddrPortFrom(s.gateway, r.port)
	}
	return out
}

// Upstreams are the daemon's upstream servers.
func (r *Resolver) Upstreams() []netip.AddrPort { return r.fwd.servers.Get() }

func addrStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// NameSet is a name of a network and its addresses, in the order stored.
type NameSet struct {
	Network string
	Name    string // lower case, without the final dot
	Addrs   []netip.Addr
}

// Names lists every network's names and aliases with their addresses,
// under NAME and NAME.NETWORK, as the resolver answers them.
func (r *Resolver) Names() []NameSet {
	var out []NameSet
	for _, n := range r.table.Load().nets {
		for name, rr := range n.names {
			out = append(out, NameSet{Network: n.name, Name: name, Addrs: rr.addrs},
				NameSet{Network: n.name, Name: name + "." + n.lower, Addrs: rr.addrs})
		}
	}
	return out
}
