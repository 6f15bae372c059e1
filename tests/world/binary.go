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
	buildPath string
	buildErr  error
)

// Binary builds cmd/ebpfnet once per process into a temp dir and returns
// its path.
func Binary() (string, error) {
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ebpfnet-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ebpfnet")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/ebpfnet")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build ebpfnet: %v: %s", err, out)
		}
	})
	return buildPath, buildErr
}

// RemoveBinary removes what Binary built; call it once no test needs it.
func RemoveBinary() error {
	if buildPath == "" {
		return nil
	}
	return os.RemoveAll(filepath.Dir(buildPath))
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
