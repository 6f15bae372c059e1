package dashboard

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Grafana dashboard in docs/ is the one Panels make: regenerate it
// with `go run ./tests/bench dashboard -out docs` (or copy GrafanaJSON's).
func TestGrafanaJSONCommitted(t *testing.T) {
	want, err := GrafanaJSON()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatal("docs/grafana-dashboard.json is not what Panels make: regenerate it")
	}
}

func TestLegend(t *testing.T) {
	if got := legend("{{reason}} on {{interface}}", map[string]string{"reason": "fwd-peer", "interface": "enet-a"}); got != "fwd-peer on enet-a" {
		t.Fatal(got)
	}
	for _, p := range Panels {
		if _, ok := scales[p.Unit]; !ok || strings.Contains(WithWindow(p.Expr, "10s"), "$") {
			t.Errorf("panel %q: unit %q, expr %s", p.Title, p.Unit, p.Expr)
		}
	}
}
