package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// settled is the daemon's resources once it has let go of what it can:
// after a collection, and once the connections of earlier calls are gone.
func settled(t *testing.T, w *world.World, ok func(api.Resources) bool) api.Resources {
	t.Helper()
	var r api.Resources
	world.Wait(30*time.Second, func() bool {
		r = cliJSON[api.Status](t, w, "status", "--gc", "--json").Resources
		return ok(r)
	})
	return r
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ebpfnet status shows what the daemon holds: the open files /proc lists
// for it, a socket more for each port it publishes, and its memory.
func TestStatusResources(t *testing.T) {
	t.Parallel()
	w := pubWorld(t, "srv")
	st := status(t, w)
	r := st.Resources
	procFDs, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", st.PID))
	if err != nil {
		t.Fatal(err)
	}
	// Its maps, programs, store, log and API socket, and the connection
	// status came on, which may be gone by the time /proc is read.
	if r.FDs < 10 || len(procFDs) < r.FDs-1 || len(procFDs) > r.FDs {
		t.Errorf("status shows %d open files; /proc lists %d", r.FDs, len(procFDs))
	}
	if r.Goroutines < 2 || r.HeapBytes == 0 || r.RSSBytes < r.HeapBytes {
		t.Errorf("status shows %d goroutines, %d bytes of heap, %d resident", r.Goroutines, r.HeapBytes, r.RSSBytes)
	}
	before := settled(t, w, func(api.Resources) bool { return true })
	w.MustCLI("publish", w.Name("srv"), "8000-8099:8000-8099")
	after := settled(t, w, func(r api.Resources) bool { return r.FDs == before.FDs+100 })
	if after.FDs != before.FDs+100 {
		t.Errorf("publishing 100 ports took the daemon from %d to %d open files, want %d", before.FDs, after.FDs, before.FDs+100)
	}
	if out := w.MustCLI("status"); !strings.Contains(out, fmt.Sprintf("%d fds, ", after.FDs)) ||
		!strings.Contains(out, " goroutines, ") || !strings.Contains(out, " MiB heap, ") || !strings.Contains(out, " MiB resident") {
		t.Errorf("ebpfnet status does not show the daemon's resources:\n%s", out)
	}
}
