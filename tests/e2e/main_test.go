// Package e2e drives the real ebpfnet binary in netns worlds the way a
// user would: build the world, run the CLI, send traffic, assert what
// arrived, tear down, check for leaks.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

var bin string

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: tests require root; skipped")
		os.Exit(0)
	}
	var err error
	if bin, err = world.Binary(); err != nil {
		fmt.Println("e2e:", err)
		os.Exit(1)
	}
	tidy := world.TidyCNICache()
	code := m.Run()
	tidy()
	world.RemoveBinary()
	os.Exit(code)
}

// newWorld is a world with the daemon running in it.
func newWorld(t *testing.T, daemonArgs ...string) *world.World {
	t.Helper()
	w := world.New(t, bin)
	w.StartDaemon(daemonArgs...)
	return w
}
