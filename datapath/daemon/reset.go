package daemon

import (
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/resolver"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
)

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
	var nl netdev.Netlink
	var eps []store.Endpoint
	errs := []error{st.View(func(tx *store.Tx) error {
		var err error
		eps, err = tx.Endpoints()
		return err
	})}
	links, err := nl.Links()
	errs = append(errs, err)
	for _, l := range links {
		if l.Owned() {
			errs = append(errs, nl.DeleteOwned(l.Name, l.Alias))
			continue
		}
		// The uplink: ebpfnet's tc filters, in tc mode (tcx links go
		// with their pins below).
		errs = append(errs, loader.DetachTC(l.Index))
	}
	for _, e := range eps {
		if e.OwnNetns {
			errs = append(errs, nl.DeleteNetns(e.Netns))
		}
	}
	// The defragmentation helper's veth went with the devices; its
	// namespace goes once its netfilter link is unpinned below.
	errs = append(errs, nl.DeleteNetns(netdev.DefragNetns(cfg.StateDir)))
	errs = append(errs, resolver.RemoveResolvConfs(cfg.StateDir, nil))
	errs = append(errs, loader.Unpin(cfg.BPFFS))
	errs = append(errs, st.Close(), os.Remove(store.Path(cfg.StateDir)))
	err = errors.Join(errs...)
	if err == nil {
		log.Info("reset: everything ebpfnet created is removed", zap.Int("endpoints", len(eps)))
	}
	return err
}
