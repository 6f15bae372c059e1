package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/maps"
)

type fakeSource struct{ fail bool }

func (f fakeSource) err() error {
	if f.fail {
		return errors.New("no daemon state")
	}
	return nil
}

func (f fakeSource) MapFill(context.Context) ([]api.MapFill, error) {
	return []api.MapFill{{Name: "enet_ct", Entries: 3, MaxEntries: 1024}}, f.err()
}

func (f fakeSource) BPFStats(context.Context) ([]api.BPFCounter, error) {
	return []api.BPFCounter{
		{Interface: "enet-a", Endpoint: "a", Reason: "fwd-peer", Packets: 10, Bytes: 1000},
		{Ifindex: 9, Reason: "drop-spoofed-ip", Drop: true, Packets: 2, Bytes: 196},
	}, f.err()
}

func (f fakeSource) Networks(context.Context) ([]api.Network, error) {
	return []api.Network{{Driver: "bridge"}, {Driver: "macvlan"}}, f.err()
}

func (f fakeSource) Endpoints(context.Context) ([]api.Endpoint, error) {
	return []api.Endpoint{
		{State: "ready", Ports: []api.Port{{Proto: "tcp"}, {Proto: "udp"}}},
		{State: "ready", Mode: "container:x", Ports: []api.Port{{Proto: "tcp"}}},
		{State: "gone", Mode: "none"},
	}, f.err()
}

func TestMetrics(t *testing.T) {
	m := New(fakeSource{}, "1.2.3", zap.NewNop())
	m.ObserveGC(3*time.Millisecond, maps.Collected{Flows: 4, Orphans: 1}, nil)
	m.ObserveGC(0, maps.Collected{}, errors.New("map gone"))
	h := m.Instrument(func() http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/endpoints/{name}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })
		return mux
	}())
	for _, p := range []string{"/v1/endpoints/a", "/v1/endpoints/b", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if problems, err := testutil.GatherAndLint(m.reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	want := `
# HELP ebpfnet_datapath_drops_total Packets the datapath dropped, by interface, endpoint and reason (the drop-* reasons of datapath_packets_total).
# TYPE ebpfnet_datapath_drops_total counter
ebpfnet_datapath_drops_total{endpoint="",interface="ifindex:9",reason="drop-spoofed-ip"} 2
# HELP ebpfnet_endpoints Endpoints, by state (ready, gone, removing) and mode (networks, none, host, container).
# TYPE ebpfnet_endpoints gauge
ebpfnet_endpoints{mode="container",state="ready"} 1
ebpfnet_endpoints{mode="networks",state="ready"} 1
ebpfnet_endpoints{mode="none",state="gone"} 1
# HELP ebpfnet_publications Published ports, by protocol.
# TYPE ebpfnet_publications gauge
ebpfnet_publications{proto="tcp"} 1
ebpfnet_publications{proto="udp"} 1
# HELP ebpfnet_networks Networks, by driver.
# TYPE ebpfnet_networks gauge
ebpfnet_networks{driver="bridge"} 1
ebpfnet_networks{driver="macvlan"} 1
# HELP ebpfnet_api_requests_total API requests answered, by route and HTTP status code.
# TYPE ebpfnet_api_requests_total counter
ebpfnet_api_requests_total{code="404",route="GET /v1/endpoints/{name}"} 2
ebpfnet_api_requests_total{code="404",route="unmatched"} 1
# HELP ebpfnet_conntrack_gc_runs_total Collections of expired flows, by result (ok or error).
# TYPE ebpfnet_conntrack_gc_runs_total counter
ebpfnet_conntrack_gc_runs_total{result="error"} 1
ebpfnet_conntrack_gc_runs_total{result="ok"} 1
# HELP ebpfnet_map_entries Entries in a datapath map now.
# TYPE ebpfnet_map_entries gauge
ebpfnet_map_entries{map="enet_ct"} 3
`
	names := []string{"ebpfnet_datapath_drops_total", "ebpfnet_endpoints", "ebpfnet_publications", "ebpfnet_networks",
		"ebpfnet_api_requests_total", "ebpfnet_conntrack_gc_runs_total", "ebpfnet_map_entries"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

// A scrape when the daemon cannot read its state still answers, with
// what it could read.
func TestScrapeFailures(t *testing.T) {
	m := New(fakeSource{fail: true}, "x", zap.NewNop())
	if n, err := testutil.GatherAndCount(m.reg, "ebpfnet_build_info"); err != nil || n != 1 {
		t.Fatalf("build_info: %d %v", n, err)
	}
}
