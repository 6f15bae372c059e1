package world

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// RemoveBinary deletes what Binary built; TestMain calls it after the run.
func RemoveBinary() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// Binary builds cmd/ebpfnet once per process into a temp dir and returns
// its path.
func Binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ebpfnet-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		buildPath = filepath.Join(dir, "ebpfnet")
		buildErr = build(buildPath)
	})
	return buildPath, buildErr
}

// Rebuild builds cmd/ebpfnet into dir with loader.BuildID set to id: the
// binary an upgrade puts in place of Binary's, whose programs differ from
// its programs by the build_id they carry.
func Rebuild(dir, id string) (string, error) {
	path := filepath.Join(dir, "ebpfnet-"+id)
	return path, build(path, "-ldflags", "-X github.com/ebpfnet/ebpfnet/loader.BuildID="+id)
}

func build(out string, flags ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append(append([]string{"build"}, flags...), "-o", out, "./cmd/ebpfnet")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build ebpfnet: %w: %s", err, msg)
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the ebpfnet module")
	}
	return filepath.Dir(mod), nil
}
