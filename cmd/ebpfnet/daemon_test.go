package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestExited(t *testing.T) {
	if exited(os.Getpid()) {
		t.Fatalf("exited(self) = true")
	}
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	// Not yet reaped, the child is a zombie: gone for a caller.
	deadline := time.Now().Add(5 * time.Second)
	for !exited(child.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("exited(zombie %d) stayed false", child.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = child.Wait()
	if !exited(child.Process.Pid) {
		t.Fatalf("exited(reaped %d) = false", child.Process.Pid)
	}
}
