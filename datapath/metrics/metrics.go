// Package metrics is the daemon's Prometheus metrics: what the datapath
// counted (verdicts by interface and reason), how full its maps are, the
// networks, endpoints and publications, the conntrack GC's runs, the
// API's requests, and the process's resources. The datapath's are read
// from the maps at each scrape, through the same calls `ebpfnet status`
// and `ebpfnet bpf stats` make, so the two never disagree; nothing polls
// between scrapes. Served only where `daemon start --metrics` says.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Source is where a scrape reads the daemon's state: its API backend.
type Source interface {
	MapFill(ctx context.Context) ([]api.MapFill, error)
	BPFStats(ctx context.Context) ([]api.BPFCounter, error)
	Networks(ctx context.Context) ([]api.Network, error)
	Endpoints(ctx context.Context) ([]api.Endpoint, error)
}

// Metrics is the daemon's registry and the instruments the daemon
// updates itself: API requests and GC runs.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	gcRuns   *prometheus.CounterVec
	gcTime   prometheus.Histogram
	gcGone   *prometheus.CounterVec
	log      *zap.Logger
}

const namespace = "ebpfnet"

// New is the registry of a daemon whose state src reads.
func New(src Source, version string, log *zap.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "api",
			Name: "requests_total", Help: "API requests answered, by route and HTTP status code."},
			[]string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "api",
			Name: "request_duration_seconds", Help: "How long the API took to answer, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}},
			[]string{"route"}),
		gcRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "conntrack_gc",
			Name: "runs_total", Help: "Collections of expired flows, by result (ok or error)."}, []string{"result"}),
		gcTime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "conntrack_gc",
			Name: "duration_seconds", Help: "How long a collection of expired flows took.",
			Buckets: prometheus.ExponentialBuckets(.0001, 4, 10)}),
		gcGone: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "conntrack_gc",
			Name: "removed_total", Help: "Entries the collection removed: expired flows, NAT entries whose " +
				"flow was gone (orphans), and records of datagrams that never completed (fragments)."},
			[]string{"kind"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.gcRuns, m.gcTime, m.gcGone,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: namespace}),
		newDatapathCollector(src, log), newStateCollector(src, log),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
			Help: "Always 1; the daemon's version is its label.", ConstLabels: prometheus.Labels{"version": version}},
			func() float64 { return 1 }))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(m.log), Registry: m.reg})
}

// ObserveGC counts a collection of expired flows.
func (m *Metrics) ObserveGC(took time.Duration, done maps.Collected, err error) {
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
		return
	}
	m.gcRuns.WithLabelValues("ok").Inc()
	m.gcTime.Observe(took.Seconds())
	m.gcGone.WithLabelValues("flows").Add(float64(done.Flows))
	m.gcGone.WithLabelValues("orphans").Add(float64(done.Orphans))
	m.gcGone.WithLabelValues("fragments").Add(float64(done.Frags))
}

// Instrument counts and times the API's requests by the route the mux
// chose (its pattern, "GET /v1/status"), so paths with names in them
// make one series per route, not per name.
func (m *Metrics) Instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, itoa(rec.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusRecorder keeps the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets a streaming answer (the monitor's) through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap is for http.ResponseController.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// scrapeTimeout bounds what one scrape reads of the daemon's state.
const scrapeTimeout = 10 * time.Second

func scrapeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), scrapeTimeout)
}

func warnScrape(log *zap.Logger, what string, err error) {
	log.Warn("metrics: read "+what, logf.Err(err))
}
