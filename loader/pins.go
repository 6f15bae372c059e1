package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The pin layout under the pin dir: every map by its name (all start
// with mapPinPrefix), and LinkDir holding the tcx links as
// IFNAME_HOOK, the cgroup links by their SockHook names, and the helper
// namespace's netfilter link as defragPin.

// mapPinPrefix starts the name of every map ebpfnet pins.
const mapPinPrefix = "enet_"

// sysBPF is the machine's bpffs, which Unpin never removes.
const sysBPF = "/sys/fs/bpf"

// parseLinkPin splits a tcx link pin's name into interface and hook.
func parseLinkPin(pin string) (string, Hook, bool) {
	for _, h := range append([]Hook{XDP}, Hooks...) {
		if ifname, ok := strings.CutSuffix(pin, "_"+string(h)); ok {
			return ifname, h, true
		}
	}
	return "", "", false
}

// SweepLinks detaches the tcx links pinned for interfaces keep does not
// want, and removes pins that name no hook. The cgroup links and the
// helper namespace's netfilter link belong to no interface: the daemon
// keeps them.
func (dp *Datapath) SweepLinks(keep func(ifname string) bool) error {
	dir := filepath.Join(dp.PinDir, LinkDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list link pins: %w", err)
	}
	daemons := map[string]bool{defragPin: true}
	for _, h := range SockHooks {
		daemons[h.Name] = true
	}
	var errs []error
	for _, e := range entries {
		if daemons[e.Name()] {
			continue
		}
		ifname, hook, ok := parseLinkPin(e.Name())
		switch {
		case !ok:
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		case !keep(ifname):
			errs = append(errs, dp.Detach(ifname, 0, hook))
		}
	}
	return errors.Join(errs...)
}

// Unpin removes what ebpfnet pinned under dir: its maps and its links;
// nothing else, so a pin dir shared with other tools, /sys/fs/bpf itself
// even, keeps theirs. Unpinning the links detaches the programs;
// unpinning the maps frees them once no program holds them. The dir goes
// too once nothing else is in it, unmounted first if it is a bpffs of its
// own.
func Unpin(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	errs := []error{err}
	for _, e := range entries {
		if e.Name() == LinkDir || strings.HasPrefix(e.Name(), mapPinPrefix) {
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
