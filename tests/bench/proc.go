package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ebpfnet/ebpfnet/tests/world"
)

// nsCmd is argv run inside a namespace (world.NetnsCmd).
var nsCmd = world.NetnsCmd

// clientCmd is a load client for a target, in its namespace and, for the
// node's own clients, in its world's cgroup.
func clientCmd(ctx context.Context, tgt Target, argv ...string) *exec.Cmd {
	cmd := nsCmd(ctx, tgt.Client, argv...)
	if tgt.World != nil {
		tgt.World.IntoCgroup(cmd)
	}
	return cmd
}

// output runs cmd and returns its stdout; a failure is a cmdError.
func output(cmd *exec.Cmd) ([]byte, error) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(string(out))
		}
		return out, &cmdError{name: cmdName(cmd.Args[3:]), msg: msg, stderr: stderr.String(), err: err}
	}
	return out, nil
}

// cmdError is a command that failed, with the last line it printed and
// all it printed on stderr.
type cmdError struct {
	name, msg, stderr string
	err               error
}

func (e *cmdError) Error() string {
	if e.msg == "" {
		return e.name + ": " + e.err.Error()
	}
	return e.name + ": " + e.msg
}

func (e *cmdError) Unwrap() error { return e.err }

// cmdName is the program and, when it has one, its sub-command.
func cmdName(argv []string) string {
	name := filepath.Base(argv[0])
	if len(argv) > 1 && !strings.HasPrefix(argv[1], "-") {
		name += " " + argv[1]
	}
	return name
}

// message is what a failed command said, without its name.
func message(err error) string {
	var ce *cmdError
	if errors.As(err, &ce) && ce.msg != "" {
		return ce.msg
	}
	return err.Error()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// background starts argv in a namespace for the rest of the run; the
// cleanup kills it before the world is torn down.
func (h *harness) background(netns string, argv ...string) error {
	cmd := nsCmd(context.Background(), netns, argv...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s in %s: %w", argv[0], netns, err)
	}
	h.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return nil
}
