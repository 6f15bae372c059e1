package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ebpfnet/ebpfnet/datapath/daemon"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// TestMapSizes: --ct-max and --nat-max size enet_ct and enet_nat, and
// enet_ct_new and enet_nat_new a quarter of them, as `ebpfnet status` and
// the kernel (bpftool on the pinned maps) say; the defaults are
// Cilium-sized; a restart with other sizes replaces the pinned maps with
// maps of the new sizes.
func TestMapSizes(t *testing.T) {
	t.Parallel()
	w := world.New(t, bin)
	steps := []struct {
		name    string
		flags   []string
		ct, nat uint32
		restart bool
	}{
		{"defaults", nil, daemon.DefaultCTMax, daemon.DefaultNATMax, false},
		{"set", []string{"--ct-max", "1024", "--nat-max", "2048"}, 1024, 2048, true},
		{"set again", []string{"--ct-max", "4096", "--nat-max", "8192"}, 4096, 8192, true},
	}
	for _, s := range steps {
		if s.restart {
			w.StopDaemon()
		}
		w.StartDaemon(s.flags...)
		for _, m := range []struct {
			name string
			want uint32
		}{{"enet_ct", s.ct}, {"enet_nat", s.nat}, {"enet_ct_new", s.ct / 4}, {"enet_nat_new", s.nat / 4}} {
			if got := mapMax(t, w, m.name); got != m.want {
				t.Errorf("%s: ebpfnet status: %s holds at most %d entries, want %d", s.name, m.name, got, m.want)
			}
			if got := pinnedMax(t, w, m.name); got != m.want {
				t.Errorf("%s: bpftool: pinned %s holds at most %d entries, want %d", s.name, m.name, got, m.want)
			}
		}
	}
}

// mapMax is the size `ebpfnet status --json` gives a map.
func mapMax(t *testing.T, w *world.World, name string) uint32 {
	t.Helper()
	for _, m := range status(t, w).Maps {
		if m.Name == name {
			return m.MaxEntries
		}
	}
	t.Fatalf("ebpfnet status shows no map %s", name)
	return 0
}

// pinnedMax is the size the kernel gives the map pinned under the world's
// bpffs dir.
func pinnedMax(t *testing.T, w *world.World, name string) uint32 {
	t.Helper()
	out, err := exec.Command("bpftool", "-j", "map", "show", "pinned", filepath.Join(w.BPFFS, name)).Output()
	if err != nil {
		t.Fatalf("bpftool map show pinned %s: %v", name, err)
	}
	var info struct {
		Name       string `json:"name"`
		MaxEntries uint32 `json:"max_entries"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Name != name {
		t.Fatalf("bpftool map show pinned %s: %q, %v", name, out, err)
	}
	return info.MaxEntries
}
