// Package maps gives typed views of the datapath's pinned maps, built on the
// bpf2go-generated key and value types.
package maps

import (
	"fmt"
	"net"
	"net/netip"
)

const afInet = 4 // ENET_AF_INET in bpf/lib/maps.h

func mac6(hw net.HardwareAddr) ([6]uint8, error) {
	var m [6]uint8
	if len(hw) != 6 {
		return m, fmt.Errorf("MAC %q is not 6 bytes", hw)
	}
	copy(m[:], hw)
	return m, nil
}

func hwAddr(m [6]uint8) net.HardwareAddr {
	return net.HardwareAddr(append([]byte(nil), m[:]...))
}

func v4(a netip.Addr) ([4]uint8, error) {
	if !a.Is4() {
		return [4]uint8{}, fmt.Errorf("address %s is not IPv4", a)
	}
	return a.As4(), nil
}
