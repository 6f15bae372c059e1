// Package dashboard is the operator's view of ebpfnet's Prometheus
// metrics: its panels, as a Grafana dashboard (docs/grafana-dashboard.json,
// generated from Panels so the two never differ) and as a PNG drawn from
// a real run (`go run ./tests/bench dashboard`): a world with traffic of
// every kind, Debian's Prometheus scraping the daemon, each panel's query
// over the run.
package dashboard

import (
	"encoding/json"
	"strings"
)

// Panel is one graph: PromQL over the daemon's metrics, a series per
// label set, named by Legend (Grafana's legendFormat).
type Panel struct {
	Title  string
	Expr   string // $__rate_interval stands for the rate window, as in Grafana
	Legend string
	Unit   string // Grafana's: short, pps, bps, percentunit, s, bytes, reqps
}

// Panels are what an operator watches: what the datapath forwards and
// drops, how full its tables are, what the daemon holds, and the
// daemon's own health.
var Panels = []Panel{
	{"Forwarded packets/s by path", `sum by (reason) (rate(ebpfnet_datapath_packets_total{reason!~"drop-.*|event-lost"}[$__rate_interval]))`,
		"{{reason}}", "pps"},
	{"Drops/s by reason", `sum by (reason) (rate(ebpfnet_datapath_drops_total[$__rate_interval]))`, "{{reason}}", "pps"},
	{"Drops/s by endpoint", `sum by (endpoint) (rate(ebpfnet_datapath_drops_total{endpoint!=""}[$__rate_interval]))`,
		"{{endpoint}}", "pps"},
	{"Forwarded bits/s by path", `8 * sum by (reason) (rate(ebpfnet_datapath_bytes_total{reason!~"drop-.*|event-lost"}[$__rate_interval]))`,
		"{{reason}}", "bps"},
	{"Conntrack and NAT fill", `ebpfnet_map_entries{map=~"enet_ct|enet_nat"} / ebpfnet_map_max_entries`, "{{map}}", "percentunit"},
	{"Endpoints, networks, publications", `sum(ebpfnet_endpoints) or vector(0)`, "endpoints", "short"},
	{"API requests/s by code", `sum by (code) (rate(ebpfnet_api_requests_total[$__rate_interval]))`, "{{code}}", "reqps"},
	{"API latency p99 by route", `histogram_quantile(0.99, sum by (le, route) (rate(ebpfnet_api_request_duration_seconds_bucket[$__rate_interval])))`,
		"{{route}}", "s"},
	{"Daemon memory", `ebpfnet_process_resident_memory_bytes`, "RSS", "bytes"},
}

// extra are more queries of a panel, by title: Grafana draws them on it.
var extra = map[string][]Panel{
	"Endpoints, networks, publications": {
		{Expr: `sum(ebpfnet_networks)`, Legend: "networks"},
		{Expr: `sum(ebpfnet_publications)`, Legend: "publications"},
	},
	"Daemon memory": {{Expr: `go_memstats_heap_inuse_bytes`, Legend: "Go heap in use"}},
}

// Queries are a panel's queries: its own, then its extra ones.
func (p Panel) Queries() []Panel { return append([]Panel{p}, extra[p.Title]...) }

// WithWindow is expr with the rate window filled in.
func WithWindow(expr, window string) string {
	return strings.ReplaceAll(expr, "$__rate_interval", window)
}

// GrafanaJSON is the dashboard, for Grafana's import with a Prometheus
// data source.
func GrafanaJSON() ([]byte, error) {
	type target struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		RefID        string `json:"refId"`
	}
	type panel struct {
		ID          int            `json:"id"`
		Type        string         `json:"type"`
		Title       string         `json:"title"`
		Datasource  map[string]any `json:"datasource"`
		GridPos     map[string]int `json:"gridPos"`
		FieldConfig map[string]any `json:"fieldConfig"`
		Targets     []target       `json:"targets"`
	}
	ds := map[string]any{"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
	var panels []panel
	for i, p := range Panels {
		pn := panel{ID: i + 1, Type: "timeseries", Title: p.Title, Datasource: ds,
			GridPos:     map[string]int{"h": 8, "w": 8, "x": (i % 3) * 8, "y": (i / 3) * 8},
			FieldConfig: map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}}}
		for j, q := range p.Queries() {
			pn.Targets = append(pn.Targets, target{Expr: q.Expr, LegendFormat: q.Legend, RefID: string(rune('A' + j))})
		}
		panels = append(panels, pn)
	}
	dash := map[string]any{
		"__inputs": []any{map[string]any{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
			"pluginId": "prometheus", "pluginName": "Prometheus"}},
		"title": "ebpfnet", "uid": "ebpfnet", "schemaVersion": 39, "version": 1, "editable": true,
		"time": map[string]string{"from": "now-1h", "to": "now"}, "refresh": "30s", "tags": []string{"ebpfnet", "ebpf"},
		"panels": panels,
	}
	raw, err := json.MarshalIndent(dash, "", "  ")
	return append(raw, '\n'), err
}
