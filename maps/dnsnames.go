package maps

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// DNSName is an enet_dns_names key: a network's name for some addresses,
// lower case, without the final dot.
type DNSName struct {
	NetID uint32
	Name  string
}

// DNSNameMax and DNSAddrsMax bound what enet_from_ep answers itself: a
// name of at most DNSNameMax bytes in wire format (the map's, less the
// one the program's bounds keep), with at most DNSAddrsMax addresses.
const (
	DNSNameMax  = 127
	DNSAddrsMax = 8
)

// DNSNames is enet_dns_names.
type DNSNames struct{ *ebpf.Map }

// DNSFits says whether enet_from_ep can answer a name with n addresses.
func DNSFits(name string, n int) bool {
	_, ok := dnsWire(name)
	return ok && n >= 1 && n <= DNSAddrsMax
}

// dnsWire is a name in wire format, zero-padded: length-prefixed labels
// and the root's zero.
func dnsWire(name string) ([128]byte, bool) {
	var out [128]byte
	if name == "" || len(name)+2 > DNSNameMax {
		return out, false
	}
	pos := 0
	for l := range strings.SplitSeq(strings.ToLower(name), ".") {
		if len(l) == 0 || len(l) > 63 {
			return out, false
		}
		out[pos] = byte(len(l))
		copy(out[pos+1:], l)
		pos += len(l) + 1
	}
	return out, true
}

func dnsDotted(wire [128]byte) string {
	var labels []string
	for pos := 0; pos < len(wire) && wire[pos] != 0; pos += int(wire[pos]) + 1 {
		end := min(pos+1+int(wire[pos]), len(wire))
		labels = append(labels, string(wire[pos+1:end]))
	}
	return strings.Join(labels, ".")
}

// Put sets a name's addresses; the turn of the round robin starts anew.
func (m DNSNames) Put(n DNSName, addrs []netip.Addr) error {
	wire, ok := dnsWire(n.Name)
	if !ok || len(addrs) < 1 || len(addrs) > DNSAddrsMax {
		return fmt.Errorf("name %q with %d addresses: not for enet_dns_names", n.Name, len(addrs))
	}
	v := loader.EnetDnsRrset{Count: uint32(len(addrs))}
	for i, a := range addrs {
		b, err := v4(a)
		if err != nil {
			return err
		}
		v.Addrs[i] = b
	}
	k := loader.EnetDnsKey{NetId: n.NetID, Name: wire}
	if err := m.Map.Put(&k, &v); err != nil {
		return fmt.Errorf("put name %q of network %d: %w", n.Name, n.NetID, err)
	}
	return nil
}

// Delete removes a name; a missing one is not an error.
func (m DNSNames) Delete(n DNSName) error {
	wire, ok := dnsWire(n.Name)
	if !ok {
		return nil
	}
	k := loader.EnetDnsKey{NetId: n.NetID, Name: wire}
	if err := ignoreNotExist(m.Map.Delete(&k)); err != nil {
		return fmt.Errorf("delete name %q of network %d: %w", n.Name, n.NetID, err)
	}
	return nil
}

// All lists every name with its addresses, in the order stored.
func (m DNSNames) All() (map[DNSName][]netip.Addr, error) {
	out := map[DNSName][]netip.Addr{}
	err := dumpAll(m.Map, func(k loader.EnetDnsKey, v loader.EnetDnsRrset) {
		var addrs []netip.Addr
		for i := range min(int(v.Count), DNSAddrsMax) {
			addrs = append(addrs, netip.AddrFrom4(v.Addrs[i]))
		}
		out[DNSName{NetID: k.NetId, Name: dnsDotted(k.Name)}] = addrs
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sync makes the map hold want where it held have: what changed is put,
// what went is deleted, and an unchanged name keeps its turn. It returns
// what the map holds after.
func (m DNSNames) Sync(have, want map[DNSName][]netip.Addr) (map[DNSName][]netip.Addr, error) {
	return syncEntries(have, want, slices.Equal[[]netip.Addr], m.Put, m.Delete)
}

// syncEntries brings a map from have to want, writing only what differs,
// and returns what it holds after: what failed to change keeps its old
// value there.
func syncEntries[K comparable, V any](have, want map[K]V, same func(a, b V) bool,
	put func(K, V) error, del func(K) error) (map[K]V, error) {
	now := make(map[K]V, len(want))
	var errs []error
	for k, v := range want {
		if old, ok := have[k]; ok && same(old, v) {
			now[k] = v
			continue
		}
		if err := put(k, v); err != nil {
			errs = append(errs, err)
			if old, ok := have[k]; ok {
				now[k] = old
			}
			continue
		}
		now[k] = v
	}
	for k, v := range have {
		if _, ok := want[k]; ok {
			continue
		}
		if err := del(k); err != nil {
			errs = append(errs, err)
			now[k] = v
		}
	}
	return now, errors.Join(errs...)
}
