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
		buildErr = build(buildPath, "./cmd/ebpfnet")
	})
	return buildPath, buildErr
}

var (
	cniOnce sync.Once
	cniDir  string
	cniErr  error
)

// Cnitool builds the CNI project's cnitool, from the module go.mod
// names, into Binary's dir, and returns its path.
func Cnitool() (string, error) {
	if _, err := Binary(); err != nil {
		return "", err
	}
	path := filepath.Join(buildDir, "cnitool")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, build(path, "github.com/containernetworking/cni/cnitool")
}

// CNIPluginDir is a dir holding the ebpfnet-cni plugin built from this
// tree, for a runtime's CNI plugin path; built once per test binary, in
// Binary's dir.
func CNIPluginDir() (string, error) {
	cniOnce.Do(func() {
		if _, cniErr = Binary(); cniErr != nil {
			return
		}
		cniDir = filepath.Join(buildDir, "cni")
		if cniErr = os.MkdirAll(cniDir, 0o755); cniErr == nil {
			cniErr = build(filepath.Join(cniDir, "ebpfnet-cni"), "./cmd/ebpfnet-cni")
		}
	})
	return cniDir, cniErr
}

// Rebuild builds cmd/ebpfnet into dir with loader.BuildID set to id: the
// binary an upgrade puts in place of Binary's, whose programs differ from
// its programs by the build_id they carry.
func Rebuild(dir, id string) (string, error) {
	path := filepath.Join(dir, "ebpfnet-"+id)
	return path, build(path, "./cmd/ebpfnet", "-ldflags", "-X github.com/ebpfnet/ebpfnet/loader.BuildID="+id)
}

func build(out, pkg string, flags ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w: %s", pkg, err, msg)
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
