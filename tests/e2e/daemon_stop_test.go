package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDaemonStopFreesState: once `daemon stop` returns, the daemon has let
// go of its state, so a daemon started right after takes it over.
func TestDaemonStopFreesState(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for range 3 {
		w.StopDaemon()
		f, err := os.Open(filepath.Join(w.Dir, "state", "ebpfnet.db"))
		if err != nil {
			t.Fatal(err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		f.Close()
		if err != nil {
			t.Fatalf("the store is still locked after daemon stop returned: %v", err)
		}
		w.StartDaemon()
	}
}
