package datapath

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
)

// Reset removes everything ebpfnet made; the daemon exits after answering.
func (m *Manager) Reset(ctx context.Context) error {
	// mu stays held: no change may start between the wipe and the exit.
	m.mu.Lock()
	m.reset = true
	err := wipe(m.cfg, m.store, m.log)
	_ = m.Stop(ctx)
	return err
}

// ResetOffline is `ebpfnet system reset` without a running daemon.
func ResetOffline(cfg Config) error {
	st, err := store.Open(cfg.StateDir)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("a daemon (pid %s) holds %s but does not answer on %s", readPid(cfg.StateDir), cfg.StateDir, cfg.Socket)
	}
	if err != nil {
		return err
	}
	return wipe(cfg, st, cfg.Log)
}

// wipe removes, from the store's record and by ebpfnet's device aliases,
// every namespace, device, link and map ebpfnet created, then the state.
// It closes st.
func wipe(cfg Config, st *store.Store, log *zap.Logger) error {
	var eps []store.Endpoint
	errs := []error{st.View(func(tx *store.Tx) error {
		var err error
		eps, err = tx.Endpoints()
		return err
	})}
	links, err := netlink.LinkList()
	errs = append(errs, err)
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, aliasPrefix) {
			errs = append(errs, deleteOwnedLink(l.Attrs().Name, l.Attrs().Alias))
			continue
		}
		// The uplink: ebpfnet's tc filters, in tc mode (tcx links go
		// with their pins below).
		errs = append(errs, loader.DetachTC(l.Attrs().Index))
	}
	for _, e := range eps {
		if e.OwnNetns {
			errs = append(errs, deleteNamedNetns(e.Netns))
		}
	}
	errs = append(errs, removePins(cfg.BPFFS))
	errs = append(errs, st.Close(), os.Remove(store.Path(cfg.StateDir)))
	err = errors.Join(errs...)
	if err == nil {
		log.Info("reset: everything ebpfnet created is removed", zap.Int("endpoints", len(eps)))
	}
	return err
}

// removePins empties and removes the pin dir, unmounting it if it is a
// bpffs of its own. Unpinning the links detaches the programs; unpinning
// the maps frees them once no program holds them.
func removePins(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	errs := []error{err}
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	if dir != sysBPF && isMountPoint(dir) {
		errs = append(errs, unix.Unmount(dir, 0))
	}
	if dir != sysBPF {
		errs = append(errs, os.Remove(dir))
	}
	return errors.Join(errs...)
}

func isMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

var _ api.Backend = (*Manager)(nil)
