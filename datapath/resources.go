package datapath

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// resources reads what the daemon holds: open files, goroutines, resident
// memory (VmRSS).
func resources() api.Resources {
	r := api.Resources{Goroutines: runtime.NumGoroutine()}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		r.FDs = len(fds)
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return r
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			r.RSSBytes = kb * 1024
		}
	}
	return r
}
