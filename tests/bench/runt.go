package main

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
)

// runT is the world.T of a program: Fatalf panics with a fatal that try
// turns back into an error, cleanups run, last first, in close, and what
// the worlds log is kept for when something fails.
type runT struct {
	mu       sync.Mutex
	cleanups []func()
	log      bytes.Buffer
}

type fatal struct{ err error }

func (t *runT) Helper() {}

func (t *runT) Fatalf(format string, args ...any) { panic(fatal{fmt.Errorf(format, args...)}) }

func (t *runT) Logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.log, format+"\n", args...)
}

func (t *runT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// close runs every cleanup, even when one fails, and returns their errors.
func (t *runT) close() error {
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
		if err := try(f); err != nil {
			errs = append(errs, err)
		}
	}
}

// try runs f and returns the error a Fatalf in it raised.
func try(f func()) (err error) {
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
