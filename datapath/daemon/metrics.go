package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
)

// MetricsPath is where the metrics are served.
const MetricsPath = "/metrics"

// serveMetrics serves the Prometheus metrics where --metrics says, and
// returns what stops it. Nothing is served by default: the daemon opens
// no network socket unless told to.
func (d *daemon) serveMetrics(errc chan<- error) (func(), error) {
	where := d.cfg.Metrics
	if where == "" {
		return func() {}, nil
	}
	l, err := listenMetrics(where)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", where, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, d.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve metrics: %w", err)
		}
	}()
	d.log.Info("metrics served", logf.Str("address", l.Addr().String()), logf.Str("path", MetricsPath))
	return func() {
		_ = srv.Close()
		<-done
		if path, ok := strings.CutPrefix(where, "unix:"); ok {
			_ = os.Remove(path)
		}
	}, nil
}

// listenMetrics opens unix:PATH (root-only, as the API's socket) or
// HOST:PORT; a bare :PORT, every address of the node, is refused.
func listenMetrics(where string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(where, "unix:"); ok {
		if err := socketDir(path); err != nil {
			return nil, err
		}
		return listenSocket(path)
	}
	host, _, err := net.SplitHostPort(where)
	if err != nil {
		return nil, fmt.Errorf("want HOST:PORT or unix:PATH: %w", err)
	}
	if host == "" {
		return nil, errors.New("give the address to serve on (127.0.0.1:PORT, or an address of the node's): " +
			"the metrics are not served on every address")
	}
	return net.Listen("tcp", where)
}
