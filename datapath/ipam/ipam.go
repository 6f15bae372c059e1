// Package ipam hands out IPv4 addresses from a network's pool the way
// Docker's default IPAM does: in order, resuming after the last one given,
// wrapping around at the end.
package ipam

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrFull is returned when every address of the pool is taken.
var ErrFull = errors.New("no free address left")

// Pool is where a network's addresses come from.
type Pool struct {
	Subnet  netip.Prefix
	Range   netip.Prefix // optional sub-range of Subnet for dynamic addresses
	Gateway netip.Addr
}

// LastAddr is the highest address of an IPv4 prefix: its broadcast address.
func LastAddr(p netip.Prefix) netip.Addr {
	n := u32(p.Masked().Addr()) | ^uint32(0)>>p.Bits()
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// first and last usable host addresses of a prefix (no network, no
// broadcast address).
func hosts(p netip.Prefix) (netip.Addr, netip.Addr) {
	return p.Masked().Addr().Next(), LastAddr(p).Prev()
}

// bounds is the dynamic range: Range if set, else the subnet, never the
// subnet's network or broadcast address.
func (p Pool) bounds() (netip.Addr, netip.Addr) {
	lo, hi := hosts(p.Subnet)
	if !p.Range.IsValid() {
		return lo, hi
	}
	rlo, rhi := p.Range.Masked().Addr(), LastAddr(p.Range)
	if rlo.Less(lo) {
		rlo = lo
	}
	if hi.Less(rhi) {
		rhi = hi
	}
	return rlo, rhi
}

// Use is how many addresses of the dynamic range the used ones take and
// how many are left to give out; the gateway is neither.
func (p Pool) Use(used map[netip.Addr]bool) (taken, free int) {
	lo, hi := p.bounds()
	if hi.Less(lo) {
		return 0, 0
	}
	size := int(u32(hi)-u32(lo)) + 1
	if !p.Gateway.Less(lo) && !hi.Less(p.Gateway) {
		size--
	}
	for a := range used {
		if a != p.Gateway && !a.Less(lo) && !hi.Less(a) {
			taken++
		}
	}
	return taken, size - taken
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Next returns the first free address after last, wrapping around once.
func (p Pool) Next(last netip.Addr, used func(netip.Addr) bool) (netip.Addr, error) {
	lo, hi := p.bounds()
	if hi.Less(lo) {
		return netip.Addr{}, ErrFull
	}
	start := lo
	if last.IsValid() && !last.Less(lo) && last.Less(hi) {
		start = last.Next()
	}
	for a := start; ; {
		if a != p.Gateway && !used(a) {
			return a, nil
		}
		if a = a.Next(); hi.Less(a) {
			a = lo
		}
		if a == start {
			return netip.Addr{}, ErrFull
		}
	}
}

// CheckStatic says whether a requested address can be given out: anywhere
// in the subnet (not only the dynamic range, so users can keep static
// addresses apart), but not the network, broadcast or gateway address.
func (p Pool) CheckStatic(a netip.Addr, used func(netip.Addr) bool) error {
	lo, hi := hosts(p.Subnet)
	switch {
	case !a.Is4():
		return fmt.Errorf("address %s is not IPv4", a)
	case !p.Subnet.Contains(a):
		return fmt.Errorf("address %s is outside the subnet %s", a, p.Subnet)
	case a.Less(lo) || hi.Less(a):
		return fmt.Errorf("address %s is the network or broadcast address of %s", a, p.Subnet)
	case a == p.Gateway:
		return fmt.Errorf("address %s is the gateway", a)
	case used(a):
		return fmt.Errorf("address %s is already in use", a)
	}
	return nil
}
