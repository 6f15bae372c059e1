package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/control"
	"github.com/ebpfnet/ebpfnet/datapath/flows"
	"github.com/ebpfnet/ebpfnet/datapath/inspect"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/metrics"
	"github.com/ebpfnet/ebpfnet/datapath/monitor"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/datapath/resolver"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// daemon is one run of the daemon: what it opened, loaded and built.
type daemon struct {
	cfg    Config
	log    *zap.Logger
	store  *store.Store
	dp     *loader.Datapath
	maps   *maps.Set
	uplink *netdev.Uplink // nil without one
	defrag api.Defrag     // the defragmentation helper, on or why not
	xdp    api.XDP        // enet_xdp_up on the uplink, or why not
	kernel *control.Kernel
	flows  *flows.Table
	pub    *ports.Publisher
	ctl    *control.Control
	res    *resolver.Resolver
	// metrics is always kept, served only where cfg.Metrics says.
	metrics *metrics.Metrics
	monitor *monitor.Hub
	insp    *inspect.Inspector

	started  time.Time
	stopOnce sync.Once
	stopped  chan struct{}
	reset    bool // set by Reset: the state is wiped as the daemon stops
}

// Run is the daemon: it takes the state dir, loads the datapath, brings the
// kernel in line with the store, and serves the API until ctx ends or a
// client asks it to stop. On exit the datapath stays: maps and links are
// pinned, so forwarding goes on without it.
func Run(ctx context.Context, cfg Config) error {
	listening := false
	err := run(ctx, cfg, &listening)
	if listening {
		// Last of all: a client waiting for the socket to go then finds
		// the state dir free.
		if rmErr := os.Remove(cfg.Socket); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove API socket: %w", rmErr))
		}
	}
	return err
}

func run(ctx context.Context, cfg Config, listening *bool) error {
	if os.Geteuid() != 0 {
		return errors.New("the daemon must run as root")
	}
	d := &daemon{cfg: cfg, log: cfg.Log, started: time.Now(), stopped: make(chan struct{})}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	warnPrivateMounts(cfg.Log)
	if err := ports.RaiseFileLimit(); err != nil {
		cfg.Log.Warn("cannot raise the open file limit: fewer ports can be published", logf.Err(err))
	}
	// Bad flags are refused before anything is mounted, loaded or pinned.
	if err := d.checkFlags(); err != nil {
		return err
	}
	// The resolvers answer from the store before the datapath loads,
	// shortening a restart's gap in names to the process's start.
	stopNames, err := d.startResolver()
	if err != nil {
		return err
	}
	defer stopNames()
	closeDP, err := d.load()
	if err != nil {
		return err
	}
	defer closeDP()
	stopAddrs, err := d.watchNodeAddrs(ctx)
	if err != nil {
		return err
	}
	defer stopAddrs()
	if err := d.start(); err != nil {
		return err
	}
	l, err := listenSocket(cfg.Socket)
	if err != nil {
		return err
	}
	*listening = true
	if err := d.serve(ctx, l); err != nil {
		return err
	}
	if !d.reset {
		d.log.Info("daemon stopped; the datapath keeps forwarding")
	}
	return nil
}

// lock takes the state dir: its store, whose lock keeps a second daemon
// out, and the pid file that names who holds it.
func (d *daemon) lock() (func(), error) {
	if err := os.MkdirAll(d.cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	st, err := store.Open(d.cfg.StateDir)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("another ebpfnet daemon (pid %s) is running on state dir %s",
			readPid(d.cfg.StateDir), d.cfg.StateDir)
	}
	if err != nil {
		return nil, err
	}
	pidPath := filepath.Join(d.cfg.StateDir, pidFile)
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("write pid file: %w", err), st.Close())
	}
	d.store = st
	return func() {
		// Reset removed both already; anything else is logged.
		if err := os.Remove(pidPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Warn("remove pid file", logf.Err(err))
		}
		if err := st.Close(); err != nil {
			d.log.Warn("close store", logf.Err(err))
		}
	}, nil
}

func readPid(stateDir string) string {
	raw, err := os.ReadFile(filepath.Join(stateDir, pidFile))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(raw))
}

// warnPrivateMounts: under `ip netns exec` the daemon gets a mount
// namespace of its own, and the namespaces it creates under /run/netns and
// the bpffs it mounts are invisible outside it.
func warnPrivateMounts(log *zap.Logger) {
	self, err1 := os.Readlink("/proc/self/ns/mnt")
	init, err2 := os.Readlink("/proc/1/ns/mnt")
	if err1 == nil && err2 == nil && self != init {
		log.Warn("the daemon runs in a mount namespace other than init's (ip netns exec?): " +
			"endpoint namespaces and pins will not be visible outside it; start it with nsenter --net=PATH instead")
	}
}

// checkFlags refuses an uplink that is not there, a default subnet that
// is not one, and a socket dir others could write to.
func (d *daemon) checkFlags() error {
	up, err := netdev.Netlink{}.FindUplink(d.cfg.Uplink)
	if err != nil {
		return err
	}
	switch {
	case up == nil:
		d.log.Info("no default route: no uplink")
	case up.FromDefaultRoute:
		d.log.Info("uplink from the default route", logf.If(up.Name))
	}
	d.uplink = up
	if d.cfg.DefaultSubnet != "" {
		if _, err := control.ParsePrefix("default subnet", d.cfg.DefaultSubnet); err != nil {
			return err
		}
	}
	return socketDir(d.cfg.Socket)
}

// serve answers the API on the socket until ctx ends or Stop is called;
// meanwhile it collects expired flows and follows endpoints' namespaces.
func (d *daemon) serve(ctx context.Context, l net.Listener) error {
	if err := d.startMonitor(); err != nil {
		return err
	}
	// The monitors' streams end before the server shuts down, which
	// waits for its requests.
	defer d.monitor.Close()
	d.metrics = metrics.New(d.backend(), Version, d.log)
	stopBG, err := d.background(ctx)
	if err != nil {
		return err
	}
	// The maps close when serve returns: a collection or an endpoint's
	// removal half way would go on with closed descriptors, or with
	// numbers reused by then.
	defer stopBG()
	srv := &http.Server{Handler: d.metrics.Instrument(api.Handler(d.backend())), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(l) }()
	stopMetrics, err := d.serveMetrics(errc)
	if err != nil {
		return err
	}
	defer stopMetrics()
	stopPlugin, err := d.serveDockerPlugin(errc)
	if err != nil {
		return err
	}
	defer stopPlugin()
	d.log.Info("daemon ready", logf.Str("socket", d.cfg.Socket), zap.Int("pid", os.Getpid()))
	select {
	case <-ctx.Done():
	case <-d.stopped:
	case err := <-errc:
		return fmt.Errorf("serve API: %w", err)
	}
	d.monitor.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		d.log.Warn("API requests still running at shutdown", logf.Err(err))
	}
	return nil
}

// background starts the conntrack GC and the watch of device deletions,
// and returns what stops both and waits for them.
func (d *daemon) background(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	gcDone := make(chan struct{})
	go func() { defer close(gcDone); d.flows.Run(ctx, d.cfg.GCInterval, d.log, d.metrics.ObserveGC) }()
	watchDone, err := netdev.Netlink{}.WatchLinks(ctx, d.ctl.LinkGone)
	if err != nil {
		cancel()
		<-gcDone
		return nil, err
	}
	// What went before the watch began.
	d.ctl.CheckEndpoints()
	return func() { cancel(); <-gcDone; <-watchDone }, nil
}
