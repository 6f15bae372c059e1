package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/cni"
	"github.com/ebpfnet/ebpfnet/datapath/control"
	"github.com/ebpfnet/ebpfnet/datapath/flows"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/datapath/ports"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// load mounts bpffs, loads the datapath (reusing what is pinned), and
// builds the parts of the daemon that work on it. The returned func lets
// go of what load took; the datapath stays pinned.
func (d *daemon) load() (func(), error) {
	if _, err := ensureBPFFS(d.cfg.BPFFS); err != nil {
		return nil, err
	}
	dp, replaced, err := loader.Load(d.cfg.BPFFS, loader.Options{CTMax: d.cfg.CTMax, NATMax: d.cfg.NATMax})
	if err != nil {
		return nil, err
	}
	if len(replaced) > 0 {
		d.log.Warn("pinned maps with another layout or size were replaced", logf.Strs("maps", replaced))
	}
	// Read once: later /proc/self/ns/net may be another, as the runtime
	// parks the main thread where a goroutine locked to it left it.
	own, err := netdev.NetnsIno("/proc/thread-self/ns/net")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("read own netns: %w", err), dp.Close())
	}
	d.dp, d.maps = dp, maps.For(dp)
	d.flows = flows.New(d.maps)
	d.kernel = control.NewKernel(dp, d.maps, d.flows, d.cfg.Attach)
	d.pub = ports.NewPublisher(d.maps.Ports, d.maps.SockRevs, d.flows, d.log)
	mtu := 1500 // endpoints never send more than the way out carries
	if d.uplink != nil && d.uplink.MTU > 0 {
		mtu = d.uplink.MTU
	}
	cc := control.Config{MTU: mtu, OwnNetns: own, DefaultSubnet: d.cfg.DefaultSubnet, Uplink: d.uplink,
		Defrag: netdev.DefragDevice, Names: d.follower()}
	d.ctl = control.New(cc, d.store, netdev.Netlink{}, d.kernel, d.pub, d.log)
	return func() {
		// Before the API socket goes, so that a daemon started as soon
		// as it is gone can take the host ports again.
		if err := d.pub.Close(); err != nil {
			d.log.Warn("release host ports", logf.Err(err))
		}
		if err := dp.Close(); err != nil {
			d.log.Warn("close the datapath's maps and programs", logf.Err(err))
		}
	}, nil
}

// start sets up the uplink, its defragmentation helper and the socket
// programs, makes sure the default network exists and reconciles the
// kernel with the store.
func (d *daemon) start() error {
	if err := d.setupUplink(); err != nil {
		return err
	}
	d.setupDefrag()
	if err := d.setupSockets(); err != nil {
		return err
	}
	if err := d.ctl.EnsureDefaultNetwork(); err != nil {
		return err
	}
	if err := d.ctl.Reconcile(); err != nil {
		d.log.Warn("reconcile left errors", logf.Err(err))
	}
	d.drainCNIQueue()
	return nil
}

// drainCNIQueue carries out the CNI DELs queued while no daemon ran,
// before the API takes new calls.
func (d *daemon) drainCNIQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := cni.New(d.ctl, nil).DrainQueue(ctx, api.CNIDelQueueDir(d.cfg.Socket))
	if len(rep.Done)+len(rep.Skipped) > 0 {
		d.log.Info("queued CNI DELs carried out", logf.Strs("done", rep.Done),
			logf.Strs("skipped (attached again since)", rep.Skipped))
	}
	for _, err := range rep.Failed {
		d.log.Warn("a queued CNI DEL failed; kept for the next start", logf.Err(err))
	}
}

// setupUplink turns on forwarding, tells the datapath the uplink and its
// address, and puts the uplink programs on it. Without an uplink nothing
// is masqueraded and endpoints reach only the node.
func (d *daemon) setupUplink() error {
	if err := netdev.WriteSysctl("net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	set := maps.Settings{PortMin: d.cfg.PortMin, PortMax: d.cfg.PortMax, Timeouts: d.cfg.CTTimeouts}
	if d.uplink != nil {
		addr, err := netdev.Netlink{}.UplinkAddr(d.uplink.Index)
		if err != nil {
			return err
		}
		set.UplinkIfindex, set.SnatIP = d.uplink.Index, addr
		d.log.Info("masquerading out of the uplink", logf.If(d.uplink.Name), logf.Str("address", addr.String()))
	}
	if err := d.maps.Config.Apply(set); err != nil {
		return err
	}
	if d.uplink == nil {
		d.xdp = api.XDP{Mode: string(loader.XDPOff), Why: "no uplink"}
		return nil
	}
	if err := d.kernel.AttachUplink(d.uplink.Name, d.uplink.Index); err != nil {
		return err
	}
	return d.setupXDP()
}

// setupXDP puts enet_xdp_up on the uplink as --xdp says, or takes an
// earlier daemon's off with --xdp off; auto falls back to generic where
// the driver has no native XDP, and says so.
func (d *daemon) setupXDP() error {
	up, mode := d.uplink, d.cfg.XDP
	if mode == "" || mode == loader.XDPOff {
		d.xdp = api.XDP{Mode: string(loader.XDPOff), Why: "--xdp off"}
		return d.dp.DetachXDP(up.Name)
	}
	got, err := d.dp.AttachXDP(mode, up.Name, up.Index)
	if err != nil {
		return err
	}
	d.xdp = api.XDP{Mode: string(got)}
	if got != loader.XDPNative {
		d.xdp.Why = "the uplink's driver has no native XDP"
		if mode == loader.XDPGeneric {
			d.xdp.Why = "--xdp generic"
		}
	}
	d.log.Info("early drops on the uplink", logf.If(up.Name), logf.Str("xdp", string(got)))
	return nil
}

// setupSockets scopes the socket programs to this namespace and attaches
// them to the cgroup (all processes below it; the root by default).
func (d *daemon) setupSockets() error {
	cookie, err := loader.NetnsCookie()
	if err != nil {
		return err
	}
	if err := d.maps.Config.SetNetnsCookie(cookie); err != nil {
		return err
	}
	cg := d.cfg.Cgroup
	if cg == "" {
		if cg, err = loader.Cgroup2Root(); err != nil {
			return err
		}
	}
	if err := d.dp.AttachCgroup(cg); err != nil {
		return err
	}
	d.log.Info("socket programs attached", logf.Str("cgroup", cg))
	return nil
}

// watchNodeAddrs keeps enet_node_addrs holding every IPv4 address of the
// node, so a port published on every address answers on all of them, as
// Docker's DNAT (--dst-type LOCAL) does: a second address of the uplink,
// another device's, each bridge's gateway. The returned func stops the
// watch and waits for it; the map keeps what it holds, as every map does
// while the daemon is down.
func (d *daemon) watchNodeAddrs(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	done, err := netdev.Netlink{}.WatchAddrs(ctx, d.maps.NodeAddrs.Sync, func(err error) {
		d.log.Warn("node addresses", logf.Err(err))
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return func() { cancel(); <-done }, nil
}
