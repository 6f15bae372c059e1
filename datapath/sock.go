package datapath

import "github.com/ebpfnet/ebpfnet/loader"

// setupSockets scopes the socket programs to this namespace and attaches
// them to the cgroup (all processes below it; the root by default).
func (m *Manager) setupSockets() error {
	cookie, err := loader.NetnsCookie()
	if err != nil {
		return err
	}
	cfg, err := m.maps.Config.Get()
	if err != nil {
		return err
	}
	cfg.NetnsCookie = cookie
	if err := m.maps.Config.Set(cfg); err != nil {
		return err
	}
	cg := m.cfg.Cgroup
	if cg == "" {
		if cg, err = loader.Cgroup2Root(); err != nil {
			return err
		}
	}
	if err := m.dp.AttachCgroup(cg); err != nil {
		return err
	}
	m.log.Info("socket programs attached", zapStr("cgroup", cg))
	return nil
}
