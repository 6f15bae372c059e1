package datapath

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
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/store"
	"github.com/ebpfnet/ebpfnet/loader"
)

const pidFile = "daemon.pid"

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
		_ = os.Remove(cfg.Socket)
	}
	return err
}

func run(ctx context.Context, cfg Config, listening *bool) error {
	if os.Geteuid() != 0 {
		return errors.New("the daemon must run as root")
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	st, err := store.Open(cfg.StateDir)
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("another ebpfnet daemon (pid %s) is running on state dir %s",
			readPid(cfg.StateDir), cfg.StateDir)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	pidPath := filepath.Join(cfg.StateDir, pidFile)
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer os.Remove(pidPath)
	warnPrivateMounts(cfg.Log)
	if err := raiseFileLimit(); err != nil {
		cfg.Log.Warn("cannot raise the open file limit: fewer ports can be published", zap.Error(err))
	}
	// Bad flags are refused before anything is mounted, loaded or pinned.
	uplink, err := findUplink(cfg)
	if err != nil {
		return err
	}
	if cfg.DefaultSubnet != "" {
		if _, err := parsePrefix("default subnet", cfg.DefaultSubnet); err != nil {
			return err
		}
	}
	if err := socketDir(cfg.Socket); err != nil {
		return err
	}

	if _, err := ensureBPFFS(cfg.BPFFS); err != nil {
		return err
	}
	dp, replaced, err := loader.Load(cfg.BPFFS, loader.Options{CTMax: cfg.CTMax, NATMax: cfg.NATMax})
	if err != nil {
		return err
	}
	defer dp.Close()
	if len(replaced) > 0 {
		cfg.Log.Warn("pinned maps with another layout or size were replaced", zap.Strings("maps", replaced))
	}
	m := newManager(cfg, st, dp)
	defer m.releasePorts()
	m.uplink = uplink
	if m.netnsIno, err = netnsIno("/proc/thread-self/ns/net"); err != nil {
		return fmt.Errorf("read own netns: %w", err)
	}
	addrs, err := watchNodeAddrs(m.maps.NodeAddrs, m.log)
	if err != nil {
		return err
	}
	defer addrs.Stop()
	if err := m.start(); err != nil {
		return err
	}
	l, err := listenSocket(cfg.Socket)
	if err != nil {
		return err
	}
	*listening = true
	if err := m.serve(ctx, l); err != nil {
		return err
	}
	if !m.reset {
		m.log.Info("daemon stopped; the datapath keeps forwarding")
	}
	return nil
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

// start sets up the uplink and socket programs, makes sure the default
// network exists and reconciles the kernel with the store.
func (m *Manager) start() error {
	if err := m.setupUplink(); err != nil {
		return err
	}
	if err := m.setupSockets(); err != nil {
		return err
	}
	if err := m.ensureDefaultNetwork(); err != nil {
		return err
	}
	if err := m.reconcile(); err != nil {
		m.log.Warn("reconcile left errors", zapErr(err))
	}
	return nil
}

// findUplink is the --uplink device, else the device of the default
// route; nil when the node has none.
func findUplink(cfg Config) (netlink.Link, error) {
	if cfg.Uplink != "" {
		l, err := netlink.LinkByName(cfg.Uplink)
		if err != nil {
			return nil, fmt.Errorf("uplink %s: %w", cfg.Uplink, err)
		}
		return l, nil
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask) {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return nil, nil
			}
			cfg.Log.Info("uplink from the default route", zapIf(l.Attrs().Name))
			return l, nil
		}
	}
	cfg.Log.Info("no default route: no uplink")
	return nil, nil
}

func isZeroMask(mask net.IPMask) bool {
	ones, _ := mask.Size()
	return ones == 0
}

func (m *Manager) ensureDefaultNetwork() error {
	var def *store.Network
	err := m.store.View(func(tx *store.Tx) error {
		nets, err := tx.Networks()
		for i := range nets {
			if nets[i].Default {
				def = &nets[i]
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if def != nil {
		if m.cfg.DefaultSubnet != "" && def.Subnet.String() != m.cfg.DefaultSubnet {
			return fmt.Errorf("the default network has subnet %s, not %s: it cannot change while it exists "+
				"(`ebpfnet system reset` starts over)", def.Subnet, m.cfg.DefaultSubnet)
		}
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = m.createNetwork(api.NetworkCreate{Name: defaultNetwork, Subnet: m.cfg.DefaultSubnet, Bridge: defaultBridge}, true)
	if err != nil {
		return fmt.Errorf("default network: %w", err)
	}
	return nil
}

// serve answers the API on the socket until ctx ends or Stop is called.
func (m *Manager) serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: api.Handler(m), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	gcCtx, stopGC := context.WithCancel(ctx)
	gcDone := make(chan struct{})
	go func() { defer close(gcDone); m.gcLoop(gcCtx) }()
	// Run closes the maps when serve returns: a collection half way
	// would go on with closed descriptors, or with numbers reused by then.
	defer func() { stopGC(); <-gcDone }()
	m.log.Info("daemon ready", zapStr("socket", m.cfg.Socket), zap.Int("pid", os.Getpid()))
	select {
	case <-ctx.Done():
	case <-m.stopped:
	case err := <-errc:
		return fmt.Errorf("serve API: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	return nil
}
