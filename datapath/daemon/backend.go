package daemon

import (
	"context"
	"os"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/cni"
	"github.com/ebpfnet/ebpfnet/datapath/control"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/datapath/inspect"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
)

// backend is what the API serves: the orchestrator's calls, the
// inspector's, and the daemon's own (stop, reset).
type backend struct {
	*control.Control
	control.Pruner
	control.Aliaser
	*inspect.Inspector
	d   *daemon
	cni *cni.Service
}

// inspector is the daemon's one inspector, made at first use.
func (d *daemon) inspector() *inspect.Inspector {
	if d.insp == nil {
		d.insp = inspect.New(d.store, d.dp, d.maps, inspect.Daemon{
			PID: os.Getpid(), Version: Version, Started: d.started, StateDir: d.cfg.StateDir, BPFFS: d.cfg.BPFFS,
			Socket: d.cfg.Socket, Uplink: d.uplink, AttachMode: d.kernel.AttachMode, Cgroup: d.cfg.Cgroup,
			Defrag: d.defrag, DockerPlugin: d.cfg.DockerPlugin, XDP: d.xdp,
		}, d.log)
	}
	return d.insp
}

func (d *daemon) backend() backend {
	insp := d.inspector()
	return backend{Control: d.ctl, Pruner: control.NewPruner(d.ctl), Aliaser: control.NewAliaser(d.ctl), Inspector: insp, d: d,
		cni: cni.New(d.ctl, cniKernel{Inspector: insp})}
}

// cniKernel is what a CNI CHECK reads.
type cniKernel struct {
	netdev.Netlink
	*inspect.Inspector
}

// CNIAdd serves the ebpfnet-cni plugin's ADD.
func (b backend) CNIAdd(ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
	return b.cni.Add(ctx, req)
}

// CNIDel serves DEL.
func (b backend) CNIDel(ctx context.Context, req api.CNIAttach) error { return b.cni.Del(ctx, req) }

// CNICheck serves CHECK.
func (b backend) CNICheck(ctx context.Context, req api.CNIAttach) (*api.CNIResult, error) {
	return b.cni.Check(ctx, req)
}

// CNIGC serves GC.
func (b backend) CNIGC(ctx context.Context, req api.CNIGC) (*api.CNIGCReport, error) {
	return b.cni.GC(ctx, req)
}

// Stop asks the daemon to shut down; the datapath stays.
func (b backend) Stop(context.Context) error {
	b.d.stop()
	return nil
}

func (d *daemon) stop() { d.stopOnce.Do(func() { close(d.stopped) }) }

// Reset removes everything ebpfnet made; the daemon exits after answering.
func (b backend) Reset(context.Context) error {
	// No change may start between the wipe and the exit.
	b.d.ctl.Freeze()
	b.d.reset = true
	err := wipe(b.d.cfg, b.d.store, b.d.log)
	b.d.stop()
	return err
}

// RemoveNetwork refuses a network Docker made through the driver: Docker
// would go on holding it. Docker removes it with docker network rm.
func (b backend) RemoveNetwork(ctx context.Context, name string) error {
	if n, err := b.Network(ctx, name); err == nil && n.DockerID != "" {
		return errdefs.Conflict("network %q is Docker's (network %.12s): remove it with docker network rm", name, n.DockerID)
	}
	return b.Control.RemoveNetwork(ctx, name)
}

// RemoveEndpoint refuses a Docker container's endpoint: Docker wires it,
// and removes it with the container or docker network disconnect.
func (b backend) RemoveEndpoint(ctx context.Context, name string) error {
	if ep, err := b.Endpoint(ctx, name); err == nil && ep.DockerID != "" {
		return errdefs.Conflict("endpoint %q is a Docker container's (endpoint %.12s): remove it with docker rm "+
			"or docker network disconnect", name, ep.DockerID)
	}
	return b.Control.RemoveEndpoint(ctx, name)
}

// ForceRemoveEndpoint refuses a Docker container's endpoint too.
func (b backend) ForceRemoveEndpoint(ctx context.Context, name string) (*api.Removed, error) {
	if ep, err := b.Endpoint(ctx, name); err == nil && ep.DockerID != "" {
		return nil, errdefs.Conflict("endpoint %q is a Docker container's (endpoint %.12s): remove it with docker rm "+
			"or docker network disconnect", name, ep.DockerID)
	}
	return control.NewRemover(b.Control).ForceRemoveEndpoint(ctx, name)
}
