package daemon

import (
	"errors"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/netdev"
	"github.com/ebpfnet/ebpfnet/loader"
)

// setupDefrag gives the uplink its defragmentation helper (bpf/lib/frag.h,
// netdev.EnsureDefrag): a namespace whose kernel reassembles the datagrams
// whose later fragment comes first, which enet_from_up sends there. What
// an earlier daemon made of it is kept. Without an uplink, or where the
// kernel cannot defragment with a netfilter link (Linux 6.6), it is off:
// such fragments wait in the uplink's ingress queue a few rounds, as
// without it, and what an earlier daemon made of the helper is removed.
func (d *daemon) setupDefrag() {
	path := netdev.DefragNetns(d.cfg.StateDir)
	if d.uplink == nil {
		d.defragOff(path, "no uplink")
		return
	}
	ifindex, err := d.makeDefrag(path)
	if err != nil {
		d.log.Warn("no defragmentation helper: a datagram whose first fragment comes last on the uplink is lost",
			logf.Err(err))
		d.defragOff(path, err.Error())
		return
	}
	d.defrag = api.Defrag{On: true, Device: netdev.DefragDevice, Ifindex: ifindex, Netns: path}
	d.log.Info("fragments that come before their first are reassembled in the helper namespace",
		logf.If(netdev.DefragDevice), logf.Str("netns", path))
}

// makeDefrag makes the helper, its netfilter link and enet_from_dfrg on
// its veth, then sends the fragments there.
func (d *daemon) makeDefrag(path string) (int, error) {
	ifindex, fresh, err := netdev.Netlink{}.EnsureDefrag(netdev.Defrag{Netns: path, Uplink: d.uplink.Index})
	if err != nil {
		return 0, err
	}
	if err := d.dp.AttachDefrag(path, fresh); err != nil {
		return 0, err
	}
	if _, err := d.dp.AttachProgram(d.cfg.Attach, loader.FromDefrag, netdev.DefragDevice, ifindex); err != nil {
		return 0, err
	}
	return ifindex, d.maps.Config.SetDefrag(ifindex)
}

// defragOff stops sending fragments to the helper and removes it.
func (d *daemon) defragOff(path, why string) {
	d.defrag = api.Defrag{Why: why}
	var nl netdev.Netlink
	err := errors.Join(d.maps.Config.SetDefrag(0), d.dp.DetachDefrag(),
		d.dp.DetachAll(netdev.DefragDevice, nl.LinkIndex(netdev.DefragDevice)), nl.DeleteDefrag(path))
	if err != nil {
		d.log.Warn("remove the defragmentation helper", logf.Err(err))
	}
}
