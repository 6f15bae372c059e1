package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/bench/cni"
	"github.com/ebpfnet/ebpfnet/tests/bench/report"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// ebpfnetSide is the real daemon in its world, driven through its CLI as a
// user would.
type ebpfnetSide struct {
	h       *harness
	w       *world.World
	a, b, s string // endpoint names, also their netns names
	ip      map[string]netip.Addr
	// published is nil when B's ports are published, else why not.
	published error
	specs     []string // the scale endpoint's publications
	// What ebpfnet-cni is run with through libcni: the conflist of
	// `ebpfnet cni config bench`, the plugin's dir and libcni's cache; or
	// cniErr, why it cannot be.
	cniConf  json.RawMessage
	cniDirs  []string
	cniCache string
	cniErr   error
}

func newEbpfnet(ctx context.Context, h *harness) (side, error) {
	e := &ebpfnetSide{h: h, ip: map[string]netip.Addr{}}
	var err error
	if e.w, err = h.newWorld(true); err != nil {
		return nil, err
	}
	e.a, e.b, e.s = e.w.Name("a"), e.w.Name("b"), e.w.Name("s")
	if _, err := e.cli(ctx, "network", "create", "bench", "--subnet", subnet); err != nil {
		return nil, err
	}
	for _, name := range []string{e.a, e.b, e.s} {
		ip, err := e.createEndpoint(ctx, name)
		if err != nil {
			return nil, err
		}
		e.ip[name] = ip
	}
	if err := h.serve(e.b, true); err != nil {
		return nil, err
	}
	if err := h.serve(e.s, false); err != nil {
		return nil, err
	}
	if err := h.serve(e.w.Ext, true); err != nil {
		return nil, err
	}
	if err := h.tune(e.a, e.w.Ext, e.w.Node); err != nil {
		return nil, err
	}
	_, e.published = e.cli(ctx, "publish", e.b,
		fmt.Sprintf("%d:%d", hostStream, streamPort),
		fmt.Sprintf("%d:%d", hostLoad, loadPort),
		fmt.Sprintf("%d:%d/udp", hostLoad, loadPort))
	if h.opts.Endpoints > 0 {
		e.cniErr = e.setupCNI(ctx)
	}
	return e, nil
}

// setupCNI gets the conflist a user would write for the network and
// builds ebpfnet-cni. A build without `ebpfnet cni` has no CNI rows.
func (e *ebpfnetSide) setupCNI(ctx context.Context) error {
	conf, err := e.cli(ctx, "cni", "config", "bench")
	if err != nil {
		return err
	}
	if !json.Valid([]byte(conf)) {
		return fmt.Errorf("ebpfnet cni config: not JSON: %q", conf)
	}
	dir, err := world.CNIPluginDir()
	if err != nil {
		return err
	}
	e.cniConf, e.cniDirs, e.cniCache = json.RawMessage(conf), []string{dir}, filepath.Join(e.w.Dir, "cni", "cache")
	return nil
}

func (e *ebpfnetSide) Name() string { return report.Ebpfnet }

// cli runs ebpfnet in the node against the world's daemon. A command this
// build does not know (publish before issue 4) is a notAvailable error.
func (e *ebpfnetSide) cli(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{e.w.Bin, "--socket", e.w.Socket}, args...)
	out, err := output(nsCmd(ctx, e.w.Node, argv...))
	if err != nil {
		var ce *cmdError
		if errors.As(err, &ce) && (strings.Contains(ce.stderr, "ebpfnet: unknown command: ") ||
			strings.Contains(ce.stderr, "No help topic for")) {
			return "", na("`ebpfnet %s` is not in this build (%s)", args[0], strings.SplitN(strings.TrimSpace(ce.stderr), "\n", 2)[0])
		}
		msg := strings.TrimPrefix(strings.TrimPrefix(message(err), "ebpfnet: "), "Error response from daemon: ")
		return "", fmt.Errorf("ebpfnet %s: %s", args[0], msg)
	}
	return string(out), nil
}

func (e *ebpfnetSide) createEndpoint(ctx context.Context, name string) (netip.Addr, error) {
	if _, err := e.cli(ctx, "endpoint", "create", name, "--network", "bench"); err != nil {
		return netip.Addr{}, err
	}
	out, err := e.cli(ctx, "endpoint", "inspect", name)
	if err != nil {
		return netip.Addr{}, err
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps) != 1 || len(eps[0].Interfaces) == 0 {
		return netip.Addr{}, fmt.Errorf("endpoint inspect %s: no interface in %q", name, out)
	}
	return netip.ParseAddr(eps[0].Interfaces[0].IP)
}

func (e *ebpfnetSide) Target(path string) (Target, error) {
	if path != "e2e" && path != "masq" && e.published != nil {
		return Target{}, e.published
	}
	return worldTarget(e.w, e.a, e.ip[e.b], path)
}

// Publish is one `ebpfnet publish` of a range spec for the fillers and one
// spec for the measured port.
func (e *ebpfnetSide) Publish(ctx context.Context, n int) (Target, time.Duration, error) {
	e.specs = nil
	if n > 1 {
		last := fillerBase + n - 2
		e.specs = append(e.specs, fmt.Sprintf("%d-%d:%d-%d", fillerBase, last, fillerBase, last))
	}
	e.specs = append(e.specs, fmt.Sprintf("%d:%d", scalePort, loadPort))
	start := time.Now()
	if _, err := e.cli(ctx, append([]string{"publish", e.s}, e.specs...)...); err != nil {
		e.specs = nil
		return Target{}, 0, err
	}
	return targetAt(e.w.Ext, world.NodeIP, scalePort, 0), time.Since(start), nil
}

func (e *ebpfnetSide) Unpublish(ctx context.Context) error {
	if len(e.specs) == 0 {
		return nil
	}
	_, err := e.cli(ctx, append([]string{"unpublish", e.s}, e.specs...)...)
	e.specs = nil
	return err
}

// Endpoints is n `ebpfnet endpoint create`, then one `endpoint rm` of all;
// then the peer's batch of n ADDs and n DELs through ebpfnet-cni.
func (e *ebpfnetSide) Endpoints(ctx context.Context, n int) endpointTimes {
	var t endpointTimes
	t.create, t.remove, t.err = e.cliEndpoints(ctx, n)
	t.cni, t.cniErr = e.cniEndpoints(ctx, n)
	return t
}

func (e *ebpfnetSide) cliEndpoints(ctx context.Context, n int) (create, remove time.Duration, err error) {
	var names []string
	start := time.Now()
	for i := range n {
		name := e.w.Name("e" + strconv.Itoa(i))
		if _, err = e.cli(ctx, "endpoint", "create", name, "--network", "bench"); err != nil {
			break
		}
		names = append(names, name)
	}
	create = time.Since(start)
	if len(names) == 0 {
		return 0, 0, err
	}
	start = time.Now()
	_, rmErr := e.cli(ctx, append([]string{"endpoint", "rm"}, names...)...)
	if err != nil {
		return 0, 0, err
	}
	return create, time.Since(start), rmErr
}

// cniEndpoints is the peer's batch with ebpfnet-cni in its place: n ADDs
// through libcni in the node netns, each making its netns first as a
// runtime does, then n DELs each removing it after, the calls timed one by
// one. It fails if the DELs left anything the ADDs made.
func (e *ebpfnetSide) cniEndpoints(ctx context.Context, n int) (cniCalls, error) {
	if e.cniErr != nil {
		return cniCalls{}, e.cniErr
	}
	before, err := e.snapshot(ctx)
	if err != nil {
		return cniCalls{}, err
	}
	var eps []cni.Attachment
	for i := range n {
		ns := e.w.Name("c" + strconv.Itoa(i))
		eps = append(eps, cni.Attachment{ID: ns, Netns: "/run/netns/" + ns, Own: true})
	}
	req := cni.Request{Op: "add", CacheDir: e.cniCache, ConfList: e.cniConf, Attach: eps, PluginDirs: e.cniDirs}
	add, addErr := e.h.cni(ctx, e.w.Node, req)
	if addErr != nil {
		// DEL what the batch got to: a netns it made, whether or not
		// its ADD went through (a DEL of nothing succeeds).
		eps = slices.DeleteFunc(eps, func(a cni.Attachment) bool {
			_, err := os.Stat(a.Netns)
			return err != nil
		})
	}
	req.Op, req.Attach = "del", eps
	del, delErr := e.h.cni(ctx, e.w.Node, req)
	err = errors.Join(addErr, delErr, e.left(ctx, before, eps))
	if err != nil {
		return cniCalls{}, err
	}
	return cniCalls{add: durations(add.Calls), del: durations(del.Calls)}, nil
}

// state is what of the daemon and the node an ADD adds to.
type state struct {
	links     map[string]bool // in the node netns
	endpoints int
	programs  int
	free      map[string]int // free addresses of each network's pool
	ports     map[string]int // bridge ports of each network
	entries   map[string]int // of the maps an endpoint has entries in
}

// endpointMaps are the maps an endpoint without publications has entries
// in; flow maps are left out, as flows come and go on their own.
var endpointMaps = []string{"enet_endpoints", "enet_ifaces", "enet_ports"}

func (e *ebpfnetSide) snapshot(ctx context.Context) (state, error) {
	s := state{links: map[string]bool{}, free: map[string]int{}, ports: map[string]int{}, entries: map[string]int{}}
	out, err := output(nsCmd(ctx, e.w.Node, "ip", "-o", "link", "show"))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			s.links[name] = true
		}
	}
	raw, err := e.cli(ctx, "status", "--json")
	if err != nil {
		return s, err
	}
	var st api.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return s, fmt.Errorf("parse status: %w", err)
	}
	s.endpoints, s.programs = st.Endpoints, len(st.Programs)
	for _, p := range st.Pools {
		s.free[p.Network], s.ports[p.Network] = p.FreeAddresses, p.BridgePorts
	}
	for _, m := range st.Maps {
		if slices.Contains(endpointMaps, m.Name) {
			s.entries[m.Name] = m.Entries
		}
	}
	return s, nil
}

// left says what of the attachments is still there after their DELs, in
// the daemon, the node, /run/netns and libcni's cache.
func (e *ebpfnetSide) left(ctx context.Context, before state, eps []cni.Attachment) error {
	after, err := e.snapshot(ctx)
	if err != nil {
		return err
	}
	var left []string
	for l := range after.links {
		if !before.links[l] {
			left = append(left, "link "+l)
		}
	}
	if after.endpoints != before.endpoints {
		left = append(left, fmt.Sprintf("%d endpoints, %d before", after.endpoints, before.endpoints))
	}
	if after.programs != before.programs {
		left = append(left, fmt.Sprintf("%d programs, %d before", after.programs, before.programs))
	}
	for k, v := range before.free {
		if after.free[k] != v {
			left = append(left, fmt.Sprintf("%d free addresses on %s, %d before", after.free[k], k, v))
		}
	}
	for k, v := range before.ports {
		if after.ports[k] != v {
			left = append(left, fmt.Sprintf("%d bridge ports on %s, %d before", after.ports[k], k, v))
		}
	}
	for k, v := range before.entries {
		if after.entries[k] != v {
			left = append(left, fmt.Sprintf("%d entries in %s, %d before", after.entries[k], k, v))
		}
	}
	for _, a := range eps {
		if _, err := os.Stat(a.Netns); err == nil {
			left = append(left, "netns "+a.Netns)
		}
	}
	if cached, _ := os.ReadDir(filepath.Join(e.cniCache, "results")); len(cached) > 0 {
		left = append(left, fmt.Sprintf("libcni's cached results of %d attachments", len(cached)))
	}
	if len(left) > 0 {
		slices.Sort(left)
		return fmt.Errorf("ebpfnet-cni DEL left %s", strings.Join(left, "; "))
	}
	return nil
}

func (e *ebpfnetSide) RSS(ctx context.Context) (uint64, error) { return daemonRSS(ctx, e.w) }

// daemonRSS is the resident memory of a world's daemon, the pid its
// status gives.
func daemonRSS(ctx context.Context, w *world.World) (uint64, error) {
	c := api.NewClient(w.Socket)
	defer c.Close()
	st, err := c.Status(ctx)
	if err != nil {
		return 0, err
	}
	return world.VmRSS(st.PID)
}
