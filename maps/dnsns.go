package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// DNSNetns is enet_dns_ns: the endpoint network namespaces, by netns
// cookie, whose sockets the socket programs send from Docker's
// 127.0.0.11:53 to their network's resolver.
type DNSNetns struct{ *ebpf.Map }

// Put sends the queries of the namespace with this cookie to resolver:53.
func (m DNSNetns) Put(cookie uint64, resolver netip.Addr) error {
	a, err := v4(resolver)
	if err == nil {
		err = m.Map.Put(&cookie, &loader.EnetDnsNs{Addr: a})
	}
	if err != nil {
		return fmt.Errorf("put netns %d's resolver: %w", cookie, err)
	}
	return nil
}

// Delete stops rewriting in a namespace; a missing one is not an error.
func (m DNSNetns) Delete(cookie uint64) error {
	if err := ignoreNotExist(m.Map.Delete(&cookie)); err != nil {
		return fmt.Errorf("delete netns %d's resolver: %w", cookie, err)
	}
	return nil
}

// All lists every namespace with its resolver.
func (m DNSNetns) All() (map[uint64]netip.Addr, error) {
	out := map[uint64]netip.Addr{}
	err := dumpAll(m.Map, func(k uint64, v loader.EnetDnsNs) {
		out[k] = netip.AddrFrom4(v.Addr)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sync makes the map hold want where it held have, and returns what it
// holds after.
func (m DNSNetns) Sync(have, want map[uint64]netip.Addr) (map[uint64]netip.Addr, error) {
	return syncEntries(have, want, func(a, b netip.Addr) bool { return a == b }, m.Put, m.Delete)
}

// DNSResolverPort is where the networks' resolvers listen on their
// gateways, and where the socket programs send an endpoint's
// 127.0.0.11:53 and enet_from_ep answers (bpf/lib/maps.h's
// DNS_RESOLVER_PORT: the BPF tests fail if the two differ).
const DNSResolverPort = 10053
