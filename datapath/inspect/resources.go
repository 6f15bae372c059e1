package inspect

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// resources reads what the daemon holds: open files, goroutines, the Go
// heap in use, and resident memory (VmRSS).
func resources() api.Resources {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := api.Resources{Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapInuse}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		r.FDs = len(fds) - 1 // not the one reading the list
	}
	r.RSSBytes = vmRSS()
	return r
}

// vmRSS is the resident memory /proc/self/status shows, 0 if unreadable.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// FreeMemory collects garbage and returns what it frees to the kernel, so
// that the status after it shows what the daemon holds rather than what
// it has yet to collect: what a check for leaks compares.
func (in *Inspector) FreeMemory(context.Context) error {
	debug.FreeOSMemory()
	return nil
}
