package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Port is an enet_ports entry: a published host address (zero: every
// address), port and protocol, and the endpoint address and port behind it.
type Port struct {
	Proto    uint8
	HostIP   netip.Addr
	HostPort uint16
	Target   netip.AddrPort
}

// Ports is enet_ports.
type Ports struct{ *ebpf.Map }

func portKey(p Port) loader.EnetPortKey {
	k := loader.EnetPortKey{Proto: p.Proto, Port: p.HostPort}
	if p.HostIP.IsValid() {
		k.Addr = p.HostIP.As4()
	}
	return k
}

// PutAll writes many entries in one batch: publishing ten thousand ports
// is one syscall, not ten thousand.
func (m Ports) PutAll(ps []Port) error {
	if len(ps) == 0 {
		return nil
	}
	keys := make([]loader.EnetPortKey, len(ps))
	vals := make([]loader.EnetPortTarget, len(ps))
	for i, p := range ps {
		keys[i] = portKey(p)
		vals[i] = loader.EnetPortTarget{Addr: p.Target.Addr().As4(), Port: p.Target.Port()}
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
		return fmt.Errorf("put %d published ports: %w", len(ps), err)
	}
	return nil
}

// DeleteAll removes many entries; missing ones are not errors.
func (m Ports) DeleteAll(ps []Port) error {
	for _, p := range ps {
		k := portKey(p)
		if err := ignoreNotExist(m.Delete(&k)); err != nil {
			return fmt.Errorf("delete published port %d: %w", p.HostPort, err)
		}
	}
	return nil
}

// All lists every entry.
func (m Ports) All() ([]Port, error) {
	var out []Port
	err := dumpAll(m.Map, func(k loader.EnetPortKey, v loader.EnetPortTarget) {
		p := Port{Proto: k.Proto, HostPort: k.Port, Target: netip.AddrPortFrom(netip.AddrFrom4(v.Addr), v.Port)}
		if k.Addr != [4]uint8{} {
			p.HostIP = netip.AddrFrom4(k.Addr)
		}
		out = append(out, p)
	})
	return out, err
}
