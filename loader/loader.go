package loader

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// Datapath is the loaded object: programs and the maps pinned under PinDir.
type Datapath struct {
	EnetObjects
	PinDir string
}

// BuildID names this build's programs (set with -ldflags
// "-X github.com/ebpfnet/ebpfnet/loader.BuildID=..."). It is loaded into
// every program as build_id, so two builds' programs differ, and trace
// events say which one wrote them.
var BuildID = ""

// BuildNumber is BuildID as the programs carry it.
func BuildNumber() uint32 {
	if BuildID == "" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(BuildID))
	return h.Sum32()
}

// Options size the maps whose size the daemon sets.
type Options struct {
	CTMax  uint32 // enet_ct entries; 0 keeps the object's default
	NATMax uint32 // enet_nat entries; 0 keeps the object's default
}

// Load loads the datapath into the kernel. Maps already pinned under pinDir
// are reused, so their contents survive a daemon restart or upgrade. A
// pinned map whose layout or size no longer matches is replaced and named
// in the returned list: every map but the flow tables is refilled from the
// daemon's store, and flows of a resized table start over. An empty pinDir
// loads private, unpinned maps (the BPF_PROG_RUN tests do).
func Load(pinDir string, opts Options) (*Datapath, []string, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := LoadEnet()
	if err != nil {
		return nil, nil, err
	}
	if err := spec.Variables[EnetVarBuildId].Set(BuildNumber()); err != nil {
		return nil, nil, fmt.Errorf("set build_id: %w", err)
	}
	resize(spec, MapEnetCt, opts.CTMax)
	resize(spec, MapEnetNat, opts.NATMax)
	resize(spec, MapEnetCtNew, newFlowsMax(opts.CTMax))
	resize(spec, MapEnetNatNew, 2*newFlowsMax(opts.NATMax/2))
	var replaced []string
	if pinDir == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := os.MkdirAll(pinDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create pin dir %s: %w", pinDir, err)
		}
		if replaced, err = unpinIncompatible(spec, pinDir); err != nil {
			return nil, nil, err
		}
	}
	dp := &Datapath{PinDir: pinDir}
	if err := spec.LoadAndAssign(&dp.EnetObjects, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, nil, fmt.Errorf("load datapath: %+v", verr) //nolint:errorlint // %+v prints the verifier's whole log
		}
		return nil, nil, fmt.Errorf("load datapath: %w", err)
	}
	return dp, replaced, nil
}

// Names of the maps the daemon sizes.
const (
	MapEnetCt     = "enet_ct"
	MapEnetNat    = "enet_nat"
	MapEnetCtNew  = "enet_ct_new"
	MapEnetNatNew = "enet_nat_new"
)

// newFlowsMax sizes the maps of flows not assured (bpf/lib/maps.h) from
// their assured counterpart's size: a quarter, at least 1. 0 keeps the
// object's default.
func newFlowsMax(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return max(n/4, 1)
}

func resize(spec *ebpf.CollectionSpec, name string, n uint32) {
	if m, ok := spec.Maps[name]; ok && n > 0 {
		m.MaxEntries = n
	}
}

// unpinIncompatible removes pinned maps the new object cannot reuse.
func unpinIncompatible(spec *ebpf.CollectionSpec, pinDir string) ([]string, error) {
	var replaced []string
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(pinDir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s: %w", path, err)
		}
		incompatible := ms.Compatible(m) != nil
		_ = m.Close()
		if !incompatible {
			continue
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unpin incompatible map %s: %w", path, err)
		}
		replaced = append(replaced, name)
	}
	return replaced, nil
}
