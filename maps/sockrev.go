package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// SockRev is an enet_sock_rev entry: a node socket the socket programs
// sent to an endpoint instead of the published address it was given.
type SockRev struct {
	Cookie    uint64
	Proto     uint8
	Endpoint  netip.AddrPort // where the socket's traffic goes
	Published netip.AddrPort // where the socket was told to send it
}

// SockRevs is enet_sock_rev.
type SockRevs struct{ *ebpf.Map }

// All lists every entry.
func (m SockRevs) All() ([]SockRev, error) {
	var out []SockRev
	err := dumpAll(m.Map, func(k loader.EnetSockRevKey, v loader.EnetSockRev) {
		out = append(out, SockRev{
			Cookie: k.Cookie, Proto: k.Proto,
			Endpoint:  netip.AddrPortFrom(netip.AddrFrom4(k.Addr), k.Port),
			Published: netip.AddrPortFrom(netip.AddrFrom4(v.Addr), v.Port),
		})
	})
	return out, err
}

// Delete removes an entry; a missing one is not an error.
func (m SockRevs) Delete(s SockRev) error {
	k := loader.EnetSockRevKey{Cookie: s.Cookie, Addr: s.Endpoint.Addr().As4(), Port: s.Endpoint.Port(), Proto: s.Proto}
	if err := ignoreNotExist(m.Map.Delete(&k)); err != nil {
		return fmt.Errorf("delete socket %d's rewrite: %w", s.Cookie, err)
	}
	return nil
}
