package world

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// RunT is the world.T of a program (the bench harnesses): Fatalf panics
// with a fatal that Try turns back into an error, cleanups run, last
// first, in Close, and what the worlds log is kept for when something
// fails.
type RunT struct {
	mu       sync.Mutex
	cleanups []func()
	log      bytes.Buffer // what the worlds logged
}

type fatal struct{ err error }

func (t *RunT) Helper() {}

func (t *RunT) Fatalf(format string, args ...any) { panic(fatal{fmt.Errorf(format, args...)}) }

func (t *RunT) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.log, format+"\n", args...)
}

func (t *RunT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// Close runs every cleanup, even when one fails, and returns their errors.
func (t *RunT) Close() error {
	var errs []error
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return errors.Join(errs...)
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		if err := Try(f); err != nil {
			errs = append(errs, err)
		}
	}
}

// Try runs f and returns the error a Fatalf in it raised.
func Try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ft, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = ft.err
		}
	}()
	f()
	return nil
}

// Logged is what the worlds logged through t.
func (t *RunT) Logged() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.log.String()
}

// NetnsCmd is argv run inside a named network namespace with nsenter
// --net, in the machine's mount namespace (so /run/netns and bpffs are
// shared). Cancelling ctx sends SIGTERM, and SIGKILL 5 s later; nsenter
// execs argv, so the command dies with its caller too.
func NetnsCmd(ctx context.Context, netns string, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/run/netns/" + netns, "--"}, argv...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
