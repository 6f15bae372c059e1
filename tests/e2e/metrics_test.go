package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/bench/dashboard"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

const metricsAddr = "127.0.0.1:9108"

// scrape reads the daemon's metrics from inside the node.
func scrape(t *testing.T, w *world.World) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	body := w.MustExec(w.Node, "curl", "-sf", "--max-time", "10", "http://"+metricsAddr+"/metrics")
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the metrics: %v\n%s", err, body)
	}
	return body, fams
}

// value is the value of the series of family name whose labels include
// every one of want (k=v); -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// Issue 15: the daemon's Prometheus metrics, where --metrics says: valid
// for promtool, equal to what `bpf stats` and `status` read of the maps,
// and scraped by a real Prometheus.
func TestMetrics(t *testing.T) {
	w := newWorld(t, "--metrics", metricsAddr, "--gc-interval", "1s")
	a, _ := twoEndpoints(t, w, "web", "--subnet", "10.40.0.0/24")
	w.MustCLI("publish", a, "8080:80")
	mustPing(t, w, a, "10.40.0.3")
	w.MustExec(a, "ip", "addr", "add", "10.40.0.77/24", "dev", "eth0")
	spoof := func() { _ = ping(w, a, "10.40.0.3", "-I", "10.40.0.77") }
	spoof()
	host := inspectEndpoint(t, w, a).Interfaces[0].HostName

	t.Run("promtool check metrics passes", func(t *testing.T) {
		body, _ := scrape(t, w)
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})
	t.Run("the datapath's counters are bpf stats'", func(t *testing.T) {
		_, fams := scrape(t, w)
		for _, c := range cliJSON[[]api.BPFCounter](t, w, "bpf", "stats", "--json") {
			if c.Interface != host {
				continue
			}
			got := value(fams, "ebpfnet_datapath_packets_total", "interface="+host, "reason="+c.Reason)
			if got != float64(c.Packets) {
				t.Errorf("%s on %s: metrics %v, bpf stats %d", c.Reason, host, got, c.Packets)
			}
		}
		if got := value(fams, "ebpfnet_datapath_drops_total", "interface="+host, "reason=drop-spoofed-ip", "endpoint="+a); got < 1 {
			t.Fatalf("drop-spoofed-ip of %s: %v", a, got)
		}
	})
	t.Run("map fill and the store's counts", func(t *testing.T) {
		_, fams := scrape(t, w)
		for _, m := range status(t, w).Maps {
			if m.Name == "enet_ct" || m.Name == "enet_nat" {
				continue // flows come and go between the two reads
			}
			if got := value(fams, "ebpfnet_map_entries", "map="+m.Name); got != float64(m.Entries) {
				t.Errorf("%s: metrics %v entries, status %d", m.Name, got, m.Entries)
			}
			if got := value(fams, "ebpfnet_map_max_entries", "map="+m.Name); got != float64(m.MaxEntries) {
				t.Errorf("%s: metrics %v max entries, status %d", m.Name, got, m.MaxEntries)
			}
		}
		for series, want := range map[string]float64{
			"ebpfnet_networks driver=bridge":              2,
			"ebpfnet_endpoints state=ready mode=networks": 2,
			"ebpfnet_publications proto=tcp":              1,
		} {
			f := strings.Fields(series)
			if got := value(fams, f[0], f[1:]...); got != want {
				t.Errorf("%s: %v, want %v", series, got, want)
			}
		}
	})
	t.Run("API requests, GC runs and the process", func(t *testing.T) {
		w.MustCLI("status")
		world.Wait(5*time.Second, func() bool {
			_, fams := scrape(t, w)
			return value(fams, "ebpfnet_conntrack_gc_runs_total", "result=ok") >= 1
		})
		_, fams := scrape(t, w)
		for _, s := range [][]string{
			{"ebpfnet_api_requests_total", "route=GET /v1/status", "code=200"},
			{"ebpfnet_api_request_duration_seconds", "route=GET /v1/status"},
			{"ebpfnet_api_requests_total", "route=GET /v1/endpoints/{name}", "code=200"},
			{"ebpfnet_conntrack_gc_runs_total", "result=ok"},
			{"ebpfnet_conntrack_gc_duration_seconds"},
			{"ebpfnet_process_resident_memory_bytes"},
			{"ebpfnet_process_open_fds"},
			{"go_goroutines"},
		} {
			if got := value(fams, s[0], s[1:]...); got < 1 {
				t.Errorf("%v: %v", s, got)
			}
		}
	})
	t.Run("a real Prometheus scrapes it", func(t *testing.T) {
		p := w.StartPrometheus(w.Node, metricsAddr)
		spoof()
		var got map[string]float64
		var err error
		ok := world.Wait(20*time.Second, func() bool {
			got, err = p.Query(`ebpfnet_datapath_drops_total{reason="drop-spoofed-ip"}`)
			return err == nil && len(got) == 1
		})
		if !ok {
			t.Fatalf("Prometheus has no drop-spoofed-ip: %v %v", got, err)
		}
		for series, v := range got {
			if !strings.Contains(series, "interface="+host) || v < 2 {
				t.Fatalf("Prometheus has %s = %v; want %s's two spoofed pings", series, v, host)
			}
		}
		// Every query of the dashboard (docs/grafana-dashboard.json) is
		// valid PromQL over these metrics, and finds series once a rate
		// has two scrapes in its window.
		w.MustCLI("status")
		for _, panel := range dashboard.Panels {
			for _, q := range panel.Queries() {
				var got map[string]float64
				var err error
				world.Wait(15*time.Second, func() bool {
					got, err = p.Query(dashboard.WithWindow(q.Expr, "10s"))
					return err == nil && len(got) > 0
				})
				if err != nil || len(got) == 0 {
					t.Errorf("panel %q: %s: %v %v", panel.Title, q.Expr, got, err)
				}
			}
		}
	})
}
