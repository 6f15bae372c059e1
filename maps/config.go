package maps

import (
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Config is enet_config: one entry the programs read on every packet.
type Config struct{ *ebpf.Map }

// Get reads the entry.
func (m Config) Get() (loader.EnetConfig, error) {
	var (
		zero uint32
		c    loader.EnetConfig
	)
	if err := m.Lookup(&zero, &c); err != nil {
		return c, fmt.Errorf("read enet_config: %w", err)
	}
	return c, nil
}

// Set replaces the entry.
func (m Config) Set(c loader.EnetConfig) error {
	var zero uint32
	if err := m.Put(&zero, &c); err != nil {
		return fmt.Errorf("write enet_config: %w", err)
	}
	return nil
}

// Settings are what the daemon tells the datapath as it starts.
type Settings struct {
	UplinkIfindex int        // 0: no uplink, nothing leaves
	SnatIP        netip.Addr // the masquerade source; invalid without an uplink
	PortMin       uint16     // range for source ports that must change
	PortMax       uint16
	Timeouts      CTTimeouts // netfilter's defaults for those it lacks
}

// Apply writes the settings, keeping the trace flags and netns cookie.
func (m Config) Apply(s Settings) error {
	c, err := m.Get()
	if err != nil {
		return err
	}
	c.UplinkIfindex, c.SnatIp = uint32(s.UplinkIfindex), [4]byte{}
	if s.SnatIP.Is4() {
		c.SnatIp = s.SnatIP.As4()
	}
	c.PortMin, c.PortMax = s.PortMin, s.PortMax
	s.Timeouts.Apply(&c)
	return m.Set(c)
}

// SetNetnsCookie scopes the socket programs to one network namespace.
func (m Config) SetNetnsCookie(cookie uint64) error {
	c, err := m.Get()
	if err != nil {
		return err
	}
	c.NetnsCookie = cookie
	return m.Set(c)
}

// SetDefrag tells enet_from_up where the uplink's fragments that come
// before their first go to be reassembled: the node side of the helper
// namespace's veth; 0 for nowhere.
func (m Config) SetDefrag(ifindex int) error {
	c, err := m.Get()
	if err != nil {
		return err
	}
	c.DefragIfindex = uint32(ifindex)
	return m.Set(c)
}
