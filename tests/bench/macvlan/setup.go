package macvlan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/tests/world"
)

// The uplink's LAN: ext is its host and router; the macvlan endpoints on
// up0 take addresses from its upper half, clear of the node's and ext's.
var (
	uplinkPrefix = netip.PrefixFrom(world.ExtIP, 24).Masked()
	uplinkRange  = netip.MustParsePrefix("198.51.100.128/25")
	bareIP       = netip.MustParseAddr("198.51.100.129") // the bare side's endpoint
	vethIP       = netip.MustParseAddr("192.0.2.60")     // the raw veth's end in its netns
)

// env is the worlds the sides run in: each side's target, or why it has
// none.
type env struct {
	t        *world.RunT
	o        Options
	targets  map[string]target
	why      map[string]error
	versions map[string]string // of the tools and the daemon
}

func (e *env) wants(sides ...string) bool {
	return slices.ContainsFunc(sides, func(s string) bool { return slices.Contains(e.o.Sides, s) })
}

// fail marks sides as not set up.
func (e *env) fail(err error, sides ...string) {
	for _, s := range sides {
		if e.wants(s) {
			e.why[s] = err
			fmt.Fprintf(e.o.Log, "%s: %v\n", s, err)
		}
	}
}

// setup builds the worlds of the sides asked for. A side that cannot be
// set up gets its reason in e.why; the error is for what stops them all.
func (e *env) setup(ctx context.Context) error {
	if e.wants(LAN, Uplink, Veth) {
		if err := e.setupMain(ctx); err != nil {
			e.fail(err, LAN, Uplink, Veth)
		}
	}
	if e.wants(UplinkBare) {
		if err := e.setupBare(ctx); err != nil {
			e.fail(err, UplinkBare)
		}
	}
	return ctx.Err()
}

// setupMain builds the world of the LAN, the uplink and the raw veth: the
// daemon in the node (when an ebpfnet side is asked for), the servers on
// the LAN host and on ext, the endpoints through ebpfnet's CLI.
func (e *env) setupMain(ctx context.Context) error {
	bin := ""
	if e.wants(LAN, Uplink) {
		bin = e.o.Bin
	}
	var w *world.World
	var lan string
	if err := world.Try(func() { w = world.New(e.t, bin); lan = w.AddLAN() }); err != nil {
		return err
	}
	if e.wants(Veth) {
		if err := e.setupVeth(ctx, w, lan); err != nil {
			e.fail(err, Veth)
		}
	}
	if !e.wants(LAN, Uplink) {
		return nil
	}
	if out, err := w.Exec(w.Node, bin, "--version"); err == nil {
		e.versions["ebpfnet"] = strings.TrimSpace(out)
	}
	if err := world.Try(func() { w.StartDaemon() }); err != nil {
		// The teardown's offline reset wants a state dir.
		_ = os.MkdirAll(filepath.Join(w.Dir, "state"), 0o700)
		e.fail(err, LAN, Uplink)
		return nil
	}
	if e.wants(LAN) {
		e.endpoint(ctx, w, LAN, "lan", lan, world.LANHostIP, "--subnet", world.LANPrefix.String(),
			"--gateway", world.LANGateway.String(), "-o", "parent="+world.LANParentDev)
	}
	if e.wants(Uplink) {
		e.endpoint(ctx, w, Uplink, "uplan", w.Ext, world.ExtIP, "--subnet", uplinkPrefix.String(),
			"--gateway", world.ExtIP.String(), "--ip-range", uplinkRange.String(), "-o", "parent="+world.UplinkDev)
	}
	return nil
}

// endpoint makes a macvlan network and an endpoint on it through the CLI,
// as a user would, and makes it side's client; its server is in srvNS.
func (e *env) endpoint(ctx context.Context, w *world.World, side, network, srvNS string, server netip.Addr, opts ...string) {
	ep := w.Name("ep-" + network) // its netns, /run/netns/EP
	err := cli(w, append([]string{"network", "create", network, "-d", "macvlan"}, opts...)...)
	if err == nil {
		err = cli(w, "endpoint", "create", ep, "--network", network)
	}
	var ip netip.Addr
	if err == nil {
		ip, err = endpointIP(w, ep)
	}
	taken := []netip.Addr{world.LANGateway, world.LANHostIP, world.LANNodeIP, vethIP, world.NodeIP, world.ExtIP}
	if err == nil && slices.Contains(taken, ip) {
		err = fmt.Errorf("endpoint %s got %s, an address the LAN already has", ep, ip)
	}
	if err == nil {
		fmt.Fprintf(e.o.Log, "%s: endpoint %s has %s\n", side, ep, ip)
		err = e.ready(ctx, side, ep, srvNS, server)
	}
	if err != nil {
		e.fail(err, side)
	}
}

// setupVeth joins a namespace of its own to the LAN switch with a veth
// pair: the raw veth, the limit.
func (e *env) setupVeth(ctx context.Context, w *world.World, lan string) error {
	ns := w.Name("veth")
	err := ipSteps([][]string{
		{"netns", "add", ns},
		{"link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "vethport", "netns", lan},
		{"-n", lan, "link", "set", "vethport", "master", world.LANBridgeDev, "up"},
		{"-n", ns, "addr", "add", netip.PrefixFrom(vethIP, world.LANPrefix.Bits()).String(), "dev", "eth0"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "eth0", "up"},
	})
	if err != nil {
		return err
	}
	return e.ready(ctx, Veth, ns, lan, world.LANHostIP)
}

// setupBare builds a world without ebpfnet and gives it what macvlan-up0
// has, made with ip(8): a macvlan device on up0 in a namespace of its own,
// the servers on ext.
func (e *env) setupBare(ctx context.Context) error {
	var w *world.World
	if err := world.Try(func() { w = world.New(e.t, "") }); err != nil {
		return err
	}
	ns := w.Name("bare")
	if err := handMacvlan(w.Node, world.UplinkDev, ns, netip.PrefixFrom(bareIP, uplinkPrefix.Bits()), world.ExtIP); err != nil {
		return err
	}
	return e.ready(ctx, UplinkBare, ns, w.Ext, world.ExtIP)
}

// ready starts a side's servers on its LAN host, checks its client
// reaches them and makes it a target.
func (e *env) ready(ctx context.Context, side, client, srvNS string, server netip.Addr) error {
	tgt := target{client: client, server: server, ports: portsOf(side)}
	if err := e.serve(ctx, srvNS, tgt); err != nil {
		return err
	}
	if err := reach(ctx, client, server); err != nil {
		return err
	}
	e.targets[side] = tgt
	return nil
}

// serve starts a target's iperf3 and sockperf UDP and TCP servers on its
// LAN host, in netns, for the rest of the run, and waits until they
// listen.
func (e *env) serve(ctx context.Context, netns string, tgt target) error {
	a, p := tgt.server.String(), tgt.ports
	for _, argv := range [][]string{
		{"taskset", "-c", cpu, "iperf3", "-s", "-B", a, "-p", strconv.Itoa(p.stream)},
		{"taskset", "-c", cpu, "sockperf", "server", "-i", a, "-p", strconv.Itoa(p.udp)},
		{"taskset", "-c", cpu, "sockperf", "server", "--tcp", "-i", a, "-p", strconv.Itoa(p.tcp)},
	} {
		cmd := nsCmd(context.Background(), netns, argv...)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s in %s: %w", argv[3], netns, err)
		}
		e.t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	for _, l := range []struct {
		flag string
		port int
	}{{"-ltn", p.stream}, {"-lun", p.udp}, {"-ltn", p.tcp}} {
		listening := func() bool {
			out, err := run(ctx, netns, "ss", "-H", l.flag, "sport = :"+strconv.Itoa(l.port))
			return err == nil && len(strings.TrimSpace(string(out))) > 0
		}
		if !world.Wait(5*time.Second, listening) {
			return fmt.Errorf("nothing listens on %s:%d (ss %s) in %s", a, l.port, l.flag, netns)
		}
	}
	return nil
}

// reach pings server from a client namespace until it answers, which also
// resolves its neighbour before the first load.
func reach(ctx context.Context, netns string, server netip.Addr) error {
	var err error
	for range 10 {
		if _, err = run(ctx, netns, "ping", "-c", "1", "-W", "1", server.String()); err == nil || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("%s does not reach %s: %w", netns, server, err)
}

// handMacvlan makes with ip(8) what a macvlan endpoint is: a macvlan
// device (bridge mode) on parent in the node, moved into a new namespace
// as eth0 with addr and a default route via gw.
func handMacvlan(node, parent, ns string, addr netip.Prefix, gw netip.Addr) error {
	return ipSteps([][]string{
		{"netns", "add", ns},
		{"-n", node, "link", "add", "mvhand", "link", parent, "type", "macvlan", "mode", "bridge"},
		{"-n", node, "link", "set", "mvhand", "netns", ns},
		{"-n", ns, "link", "set", "mvhand", "name", "eth0"},
		{"-n", ns, "addr", "add", addr.String(), "dev", "eth0"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "set", "eth0", "up"},
		{"-n", ns, "route", "add", "default", "via", gw.String()},
	})
}

func ipSteps(steps [][]string) error {
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return nil
}

// cli runs ebpfnet against the world's daemon; a driver, flag or command
// this build does not know is a notAvailable error.
func cli(w *world.World, args ...string) error {
	_, err := cliOut(w, args...)
	return err
}

func cliOut(w *world.World, args ...string) (string, error) {
	out, err := w.CLI(args...)
	if err == nil {
		return out, nil
	}
	msg := lastLine(out)
	for _, unknown := range []string{"flag provided but not defined", "unknown command", "not supported", "unknown driver", "only driver"} {
		if strings.Contains(err.Error(), unknown) {
			return out, notAvailable{fmt.Sprintf("not in this build: ebpfnet %s: %s", strings.Join(args, " "), msg)}
		}
	}
	return out, fmt.Errorf("ebpfnet %s: %s", strings.Join(args, " "), msg)
}

func endpointIP(w *world.World, name string) (netip.Addr, error) {
	out, err := cliOut(w, "endpoint", "inspect", name)
	if err != nil {
		return netip.Addr{}, err
	}
	var eps []api.Endpoint
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps) != 1 || len(eps[0].Interfaces) == 0 {
		return netip.Addr{}, errors.Join(err, fmt.Errorf("endpoint inspect %s: no interface in %q", name, out))
	}
	return netip.ParseAddr(eps[0].Interfaces[0].IP)
}

// notAvailable is why a side cannot be measured with this build.
type notAvailable struct{ reason string }

func (e notAvailable) Error() string { return e.reason }

func isNA(err error) bool {
	var n notAvailable
	return errors.As(err, &n)
}
