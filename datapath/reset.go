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

// removePins removes what ebpfnet pinned under dir: its maps (all named
// enet_*) and its links; nothing else, so a pin dir shared with other
// tools, /sys/fs/bpf itself even, keeps theirs. Unpinning the links
// detaches the programs; unpinning the maps frees them once no program
// holds them. The dir goes too once nothing else is in it, unmounted first
// if it is a bpffs of its own.
func removePins(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	errs := []error{err}
	for _, e := range entries {
		if e.Name() == loader.LinkDir || strings.HasPrefix(e.Name(), pinPrefix) {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil || dir == sysBPF {
		return err
	}
	if isMountPoint(dir) {
		if !onlyPreloaded(dir) {
			return nil
		}
		if err := unix.Unmount(dir, 0); err != nil {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("remove pin dir: %w", err)
	}
	return nil
}

// pinPrefix starts the name of every map ebpfnet pins.
const pinPrefix = "enet_"

// onlyPreloaded says whether a bpffs mount holds nothing but the
// iterators the kernel puts at the root of every one (CONFIG_BPF_PRELOAD),
// which cannot be unlinked and go with the mount.
func onlyPreloaded(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != "maps.debug" && e.Name() != "progs.debug" {
			return false
		}
	}
	return true
}

func isMountPoint(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

var _ api.Backend = (*Manager)(nil)
