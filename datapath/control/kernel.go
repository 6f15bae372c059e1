package control

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/ebpfnet/ebpfnet/datapath/flows"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Kernel is the Datapath of a loaded object: its maps, its programs on
// devices, and its flows.
type Kernel struct {
	dp    *loader.Datapath
	maps  *maps.Set
	flows *flows.Table
	mode  loader.Mode
	got   atomic.Value // the loader.Mode the last attach took (auto resolves to tcx or tc)
}

// NewKernel attaches programs in mode.
func NewKernel(dp *loader.Datapath, m *maps.Set, f *flows.Table, mode loader.Mode) *Kernel {
	return &Kernel{dp: dp, maps: m, flows: f, mode: mode}
}

func (k *Kernel) attach(p loader.Program, ifname string, ifindex int) error {
	mode, err := k.dp.AttachProgram(k.mode, p, ifname, ifindex)
	if err == nil {
		k.got.Store(mode)
	}
	return err
}

// EndpointMode is how auto attaches enet_from_ep to a new host veth:
// tc. A tcx attach waits an RCU grace period in the kernel
// (tcx_entry_sync) for every device's first program, 5-17 ms of a
// container's CNI ADD on the bench machine, where a tc filter takes
// well under one. What tcx adds, programs of several owners in order
// and an attachment only its link's holder can take off, buys nothing
// on a device ebpfnet makes and alone uses. tcx and tc as asked for
// are kept everywhere.
func (k *Kernel) endpointMode() loader.Mode {
	if k.mode == loader.ModeAuto {
		return loader.ModeTC
	}
	return k.mode
}

// AttachMode is the mode as configured, with what auto resolved to.
func (k *Kernel) AttachMode() string {
	got, _ := k.got.Load().(loader.Mode)
	if k.mode == loader.ModeAuto && got != "" {
		return fmt.Sprintf("auto (%s; endpoint veths tc)", got)
	}
	return string(k.mode)
}

// AttachUplink puts the uplink programs on the node's device to the
// outside.
func (k *Kernel) AttachUplink(name string, ifindex int) error {
	if err := k.attach(loader.FromUplink, name, ifindex); err != nil {
		return err
	}
	return k.attach(loader.ToUplink, name, ifindex)
}

// PutNetwork writes a network's enet_networks and enet_subnets entries.
func (k *Kernel) PutNetwork(n maps.Network) error { return k.maps.Networks.Put(n) }

// DeleteNetwork removes them.
func (k *Kernel) DeleteNetwork(id uint32, subnet netip.Prefix) error {
	return k.maps.Networks.Delete(id, subnet)
}

// PutIface tells enet_from_ep whose frames a host veth carries.
func (k *Kernel) PutIface(i maps.Iface) error { return k.maps.Ifaces.Put(i) }

// ForgetIface removes a host veth's enet_ifaces entry, counters and flows.
func (k *Kernel) ForgetIface(ifindex int) error {
	return errors.Join(k.maps.Ifaces.Delete(ifindex), k.maps.Stats.DeleteIfindex(ifindex),
		k.flows.Flush(func(f maps.Flow) bool { return f.Ifindex == ifindex }))
}

// AttachEndpoint puts enet_from_ep on a host veth.
func (k *Kernel) AttachEndpoint(ifname string, ifindex int) error {
	_, err := k.dp.AttachProgram(k.endpointMode(), loader.FromEndpoint, ifname, ifindex)
	return err
}

// AttachBridge puts enet_to_br on a network's bridge.
func (k *Kernel) AttachBridge(ifname string, ifindex int) error {
	return k.attach(loader.ToBridge, ifname, ifindex)
}

// DetachBridge takes it off and drops the bridge's counters.
func (k *Kernel) DetachBridge(ifname string, ifindex int) error {
	errs := []error{k.dp.Detach(ifname, ifindex, loader.Egress)}
	if ifindex > 0 {
		errs = append(errs, k.maps.Stats.DeleteIfindex(ifindex))
	}
	return errors.Join(errs...)
}

// DetachEndpoint takes it off.
func (k *Kernel) DetachEndpoint(ifname string, ifindex int) error {
	return k.dp.Detach(ifname, ifindex, loader.Ingress)
}

// DetachAll takes ebpfnet's programs off both hooks of a device.
func (k *Kernel) DetachAll(ifname string, ifindex int) error { return k.dp.DetachAll(ifname, ifindex) }

// PutEndpoint makes an endpoint address deliverable.
func (k *Kernel) PutEndpoint(e maps.Endpoint) error { return k.maps.Endpoints.Put(e) }

// DeleteEndpoint makes it no longer so.
func (k *Kernel) DeleteEndpoint(ip netip.Addr) error { return k.maps.Endpoints.Delete(ip) }

// Sweep removes map entries and link pins of what d does not hold.
func (k *Kernel) Sweep(d Desired) error {
	return errors.Join(k.sweepMaps(d), k.dp.SweepLinks(func(ifname string) bool { return d.Links[ifname] }))
}

func (k *Kernel) sweepMaps(d Desired) error {
	var errs []error
	eps, err := k.maps.Endpoints.All()
	errs = append(errs, err)
	for _, e := range eps {
		if !d.Addrs[e.IP] {
			errs = append(errs, k.maps.Endpoints.Delete(e.IP))
		}
	}
	ifs, err := k.maps.Ifaces.All()
	errs = append(errs, err)
	for _, i := range ifs {
		if !d.Ifindex[i.Ifindex] {
			errs = append(errs, k.maps.Ifaces.Delete(i.Ifindex))
		}
	}
	nets, err := k.maps.Networks.All()
	errs = append(errs, err)
	for _, n := range nets {
		if _, ok := d.Networks[n.ID]; !ok {
			errs = append(errs, k.maps.Networks.Delete(n.ID, n.Subnet))
		}
	}
	subnets, err := k.maps.Networks.SubnetEntries()
	errs = append(errs, err)
	for p, id := range subnets {
		if d.Networks[id] != p {
			errs = append(errs, k.maps.Networks.DeleteSubnet(p))
		}
	}
	counters, err := k.maps.Stats.All()
	errs = append(errs, err)
	for _, c := range counters {
		if !d.Ifindex[c.Ifindex] {
			errs = append(errs, k.maps.Stats.DeleteIfindex(c.Ifindex))
		}
	}
	return errors.Join(errs...)
}
