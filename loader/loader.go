package loader

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// Datapath is the loaded object: programs and the maps pinned under PinDir.
type Datapath struct {
	EnetObjects
	PinDir string
}

// Load loads the datapath into the kernel. Maps already pinned under pinDir
// are reused, so their contents survive a daemon restart or upgrade; missing
// ones are created and pinned. An empty pinDir loads private, unpinned maps
// (the BPF_PROG_RUN tests do).
func Load(pinDir string) (*Datapath, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := LoadEnet()
	if err != nil {
		return nil, err
	}
	if pinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return nil, fmt.Errorf("create pin dir %s: %w", pinDir, err)
	}
	dp := &Datapath{PinDir: pinDir}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	if err := spec.LoadAndAssign(&dp.EnetObjects, opts); err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("load datapath: a map pinned under %s has another layout "+
				"(left by an older ebpfnet?); `ebpfnet system reset` removes it: %w", pinDir, err)
		}
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load datapath: %+v", verr)
		}
		return nil, fmt.Errorf("load datapath: %w", err)
	}
	return dp, nil
}
