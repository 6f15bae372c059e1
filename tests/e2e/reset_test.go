package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

func TestSystemReset(t *testing.T) {
	cases := []struct {
		name    string
		daemon  []string
		offline bool // stop the daemon first: reset works from the state dir
	}{
		{"daemon running", nil, false},
		{"daemon stopped", nil, true},
		{"tc mode", []string{"--attach", "tc"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.daemon...)
			adopted := w.Name("adopted")
			w.MustExec(w.Node, "ip", "netns", "add", adopted)
			w.MustCLI("network", "create", "red", "--subnet", "10.11.0.0/24")
			w.MustCLI("network", "create", "blue", "--subnet", "10.12.0.0/24", "--bridge", "br-blue")
			a, b, c, d := w.Name("a"), w.Name("b"), w.Name("c"), w.Name("d")
			w.MustCLI("endpoint", "create", a, "--network", "red")
			w.MustCLI("endpoint", "create", b, "--network", "blue")
			w.MustCLI("endpoint", "create", c) // the default network
			w.MustCLI("endpoint", "create", d, "--network", "red", "--netns", "/run/netns/"+adopted)
			w.MustCLI("network", "connect", "blue", a)
			mustPing(t, w, a, "10.12.0.2")
			progs := programIDs(t, w)

			if tc.offline {
				w.StopDaemon()
				out := w.MustCLI(append([]string{"system", "reset"}, w.DaemonArgs()...)...)
				if !strings.Contains(out, "no daemon was running") {
					t.Fatalf("offline reset said:\n%s", out)
				}
			} else {
				w.MustCLI("system", "reset")
			}

			for _, ep := range []string{a, b, c} {
				if _, err := os.Stat("/run/netns/" + ep); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("netns %s is still there (%v)", ep, err)
				}
			}
			if got := linkNames(t, w, w.Node); got != "lo up0" {
				t.Errorf("node devices after reset: %s, want lo up0", got)
			}
			if got := linkNames(t, w, adopted); got != "lo" {
				t.Errorf("the adopted netns keeps its namespace but none of ebpfnet's devices: has %s", got)
			}
			if _, err := os.Stat(w.BPFFS); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pin dir %s is still there (%v)", w.BPFFS, err)
			}
			// The defragmentation helper's namespace is mounted in the
			// state dir.
			if m := world.MountsUnder(w.Dir); len(m) > 0 {
				t.Errorf("mounts left under the world's dir: %v", m)
			}
			if _, err := os.Stat(filepath.Join(w.Dir, "state", "ebpfnet.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the state file is still there (%v)", err)
			}
			// No tcx link or tc filter holds the programs any more, so the
			// kernel frees them.
			gone := world.Wait(5*time.Second, func() bool {
				for _, id := range progs {
					if _, err := w.Exec(w.Node, "bpftool", "prog", "show", "id", strconv.Itoa(int(id))); err == nil {
						return false
					}
				}
				return true
			})
			if !gone {
				t.Errorf("programs %v are still loaded:\n%s", progs, w.MustExec(w.Node, "bpftool", "link", "show"))
			}
			mustFailCLI(t, w, "no ebpfnet daemon", "status")
		})
	}
}

// programIDs are the ids of the programs the daemon has attached, its
// defragmentation helper's netfilter program among them.
func programIDs(t *testing.T, w *world.World) []uint32 {
	t.Helper()
	var ids []uint32
	st := status(t, w)
	for _, p := range st.Programs {
		ids = append(ids, p.ID)
	}
	if st.Defrag.ProgID != 0 {
		ids = append(ids, st.Defrag.ProgID)
	}
	if len(ids) == 0 {
		t.Fatalf("status shows no attached program")
	}
	return ids
}

// TestResetKeepsForeignPins: reset removes ebpfnet's pins, never another
// tool's beside them.
func TestResetKeepsForeignPins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.10.0.0/24")
	mustPing(t, w, a, "10.10.0.3")
	foreign := filepath.Join(w.BPFFS, "other-tool")
	if err := os.Mkdir(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(foreign); _ = os.Remove(w.BPFFS) })
	w.MustCLI("system", "reset")
	entries, err := os.ReadDir(w.BPFFS)
	if err != nil || len(entries) != 1 || entries[0].Name() != "other-tool" {
		t.Fatalf("after reset %s holds %v (%v), want only other-tool", w.BPFFS, entries, err)
	}
}
