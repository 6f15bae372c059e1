package maps

import (
	"fmt"

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
	if err := m.Map.Lookup(&zero, &c); err != nil {
		return c, fmt.Errorf("read enet_config: %w", err)
	}
	return c, nil
}

// Set replaces the entry.
func (m Config) Set(c loader.EnetConfig) error {
	var zero uint32
	if err := m.Map.Put(&zero, &c); err != nil {
		return fmt.Errorf("write enet_config: %w", err)
	}
	return nil
}
