package inspect

import (
	"os"
	"runtime"
	"testing"
)

// resources follows what the process takes: files it opens, goroutines it
// starts, memory it allocates and touches.
func TestResources(t *testing.T) {
	const files, goroutines, size = 10, 10, 64 << 20
	before := resources()
	if before.FDs < 1 || before.Goroutines < 1 || before.HeapBytes == 0 || before.RSSBytes < before.HeapBytes {
		t.Fatalf("resources() = %+v: implausible", before)
	}
	for range files {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	stop := make(chan struct{})
	defer close(stop)
	for range goroutines {
		go func() { <-stop }()
	}
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}
	after := resources()
	runtime.KeepAlive(buf)
	if after.FDs != before.FDs+files {
		t.Errorf("open files: %d, then %d after opening %d", before.FDs, after.FDs, files)
	}
	// Goroutines of earlier tests may have ended since: at least those
	// started and this one.
	if after.Goroutines < goroutines+1 {
		t.Errorf("goroutines: %d after starting %d", after.Goroutines, goroutines)
	}
	if after.HeapBytes < before.HeapBytes+size*9/10 {
		t.Errorf("heap: %d, then %d after allocating %d", before.HeapBytes, after.HeapBytes, size)
	}
	if after.RSSBytes < before.RSSBytes+size*9/10 {
		t.Errorf("RSS: %d, then %d after touching %d", before.RSSBytes, after.RSSBytes, size)
	}
}
