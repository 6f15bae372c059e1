package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `make demo`'s script with this build, so the first command
// of the README cannot rot: it must finish, show what it says it shows, and
// leave nothing behind.
func TestDemo(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	before := netnsSet(t)
	cmd := exec.Command(script, bin)
	cmd.WaitDelay = 10 * time.Second
	timer := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	text := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(string(out), "")
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, text)
	}
	for _, want := range []string{
		"3 packets transmitted, 3 received",
		"from ext: HTTP 200",
		"from the node, 127.0.0.1: HTTP 200",
		"hairpin from the other endpoint: HTTP 200",
		"forward-peer", "forward-masquerade", "forward-published", "forward-hairpin",
		`"port": 8080,`, `"net_id": `,
		"name enet_from_ep", "name enet_from_up", "name enet_to_up",
		"from ext, daemon stopped: HTTP 200",
		"nameserver 127.0.0.11", "by name: HTTP 200", "SERVER: 127.0.0.11#53", "dns-answered",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo does not show %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`(?m)^198\.51\.100\.1 $`).MatchString(text) {
		t.Errorf("the demo does not show ext seeing the node's address as the masqueraded source:\n%s", text)
	}
	if rules := regexp.MustCompile(`(?m)^-A |^table `).FindString(text); rules != "" {
		t.Errorf("the demo shows a firewall rule in the node: %q", rules)
	}
	for ns := range netnsSet(t) {
		if !before[ns] && strings.HasPrefix(ns, "demo") {
			t.Errorf("the demo left netns %s", ns)
		}
	}
	if left, _ := filepath.Glob("/sys/fs/bpf/ebpfnet-demo*"); len(left) > 0 {
		t.Errorf("the demo left pins: %v", left)
	}
}

func netnsSet(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, e := range entries {
		set[e.Name()] = true
	}
	return set
}
