package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Mode is how programs are attached to interfaces.
type Mode string

const (
	ModeAuto Mode = "auto" // tcx where the kernel has it (>= 6.6), else tc
	ModeTCX  Mode = "tcx"  // tcx links, pinned so they outlive the daemon
	ModeTC   Mode = "tc"   // clsact qdisc + cls_bpf direct-action filter
)

// ParseMode checks a --attach value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeAuto, ModeTCX, ModeTC:
		return m, nil
	}
	return "", fmt.Errorf("attach mode %q: want auto, tcx or tc", s)
}

// tcFilterPrio and tcFilterHandle identify ebpfnet's legacy tc filter, so a
// restart replaces it in place.
const (
	tcFilterPrio   = 1
	tcFilterHandle = 0xeb
)

// Hook is the side of an interface a program runs on.
type Hook string

const (
	Ingress Hook = "ingress"
	Egress  Hook = "egress"
)

func (h Hook) tcx() ebpf.AttachType {
	if h == Egress {
		return ebpf.AttachTCXEgress
	}
	return ebpf.AttachTCXIngress
}

func (h Hook) tcParent() uint32 {
	if h == Egress {
		return netlink.HANDLE_MIN_EGRESS
	}
	return netlink.HANDLE_MIN_INGRESS
}

// Hooks are both sides, for listing and removal.
var Hooks = []Hook{Ingress, Egress}

// Attachment describes a program on one hook of an interface.
type Attachment struct {
	Ifname  string
	Ifindex int
	Hook    Hook
	Mode    Mode // tcx or tc
	ProgID  ebpf.ProgramID
}

// Program is a tc program by the place it runs.
type Program int

const (
	FromEndpoint Program = iota // enet_from_ep: ingress of an endpoint's host veth
	FromUplink                  // enet_from_up: ingress of the uplink
	ToUplink                    // enet_to_up: egress of the uplink
	FromDefrag                  // enet_from_dfrg: ingress of the helper namespace's veth
	ToBridge                    // enet_to_br: egress of a network's bridge
)

// program is the loaded program and the hook it runs on.
func (dp *Datapath) program(p Program) (*ebpf.Program, Hook) {
	switch p {
	case FromUplink:
		return dp.EnetFromUp, Ingress
	case ToUplink:
		return dp.EnetToUp, Egress
	case FromDefrag:
		return dp.EnetFromDfrg, Ingress
	case ToBridge:
		return dp.EnetToBr, Egress
	}
	return dp.EnetFromEp, Ingress
}

// AttachProgram is Attach of one of the datapath's tc programs, on its hook.
func (dp *Datapath) AttachProgram(mode Mode, p Program, ifname string, ifindex int) (Mode, error) {
	prog, hook := dp.program(p)
	return dp.Attach(mode, prog, ifname, ifindex, hook)
}

// LinkDir is the dir under the pin dir that holds the pinned links.
const LinkDir = "links"

// LinkPin is where the tcx link for a hook of an interface is pinned.
func (dp *Datapath) LinkPin(ifname string, hook Hook) string {
	return filepath.Join(dp.PinDir, LinkDir, ifname+"_"+string(hook))
}

// Attach puts prog on a hook of an interface, replacing what ebpfnet had
// there before in one step (link.Update for tcx, filter replace for tc),
// so no packet sees the hook empty. What an earlier daemon attached in the
// other mode comes off after: left on, it would go on running that
// daemon's program beside this one.
func (dp *Datapath) Attach(mode Mode, prog *ebpf.Program, ifname string, ifindex int, hook Hook) (Mode, error) {
	got, err := dp.attach(mode, prog, ifname, ifindex, hook)
	if err != nil {
		return got, err
	}
	if got == ModeTC {
		return got, dp.detachTCX(ifname, hook)
	}
	return got, detachTC(ifindex, hook)
}

func (dp *Datapath) attach(mode Mode, prog *ebpf.Program, ifname string, ifindex int, hook Hook) (Mode, error) {
	if mode == ModeTC {
		return ModeTC, attachTC(prog, ifname, ifindex, hook)
	}
	err := dp.attachTCX(prog, ifname, ifindex, hook)
	if mode == ModeAuto && errors.Is(err, ebpf.ErrNotSupported) {
		return ModeTC, attachTC(prog, ifname, ifindex, hook)
	}
	return ModeTCX, err
}

// attachTCXLink is link.AttachTCX; a test stands in a kernel without tcx.
var attachTCXLink = link.AttachTCX

func (dp *Datapath) attachTCX(prog *ebpf.Program, ifname string, ifindex int, hook Hook) error {
	pin := dp.LinkPin(ifname, hook)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if linkIfindex(l) == ifindex {
			if err := l.Update(prog); err != nil {
				return fmt.Errorf("update tcx link on %s: %w", ifname, err)
			}
			return nil
		}
		// The device it was attached to is gone: the pin is stale.
		if err := l.Unpin(); err != nil {
			return fmt.Errorf("unpin stale tcx link %s: %w", pin, err)
		}
	}
	l, err := attachTCXLink(link.TCXOptions{Interface: ifindex, Program: prog, Attach: hook.tcx()})
	if err != nil {
		return fmt.Errorf("attach tcx link to %s: %w", ifname, err)
	}
	defer l.Close()
	if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
		return fmt.Errorf("create link pin dir: %w", err)
	}
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin tcx link to %s: %w", pin, err)
	}
	return nil
}

func linkIfindex(l link.Link) int {
	info, err := l.Info()
	if err != nil {
		return 0
	}
	if tcx := info.TCX(); tcx != nil {
		return int(tcx.Ifindex)
	}
	if xdp := info.XDP(); xdp != nil {
		return int(xdp.Ifindex)
	}
	return 0
}

func attachTC(prog *ebpf.Program, ifname string, ifindex int, hook Hook) error {
	info, err := prog.Info()
	if err != nil {
		return fmt.Errorf("read program info: %w", err)
	}
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscReplace(qdisc); err != nil {
		return fmt.Errorf("add clsact qdisc to %s: %w", ifname, err)
	}
	filter := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    hook.tcParent(),
			Handle:    tcFilterHandle,
			Protocol:  unix.ETH_P_ALL,
			Priority:  tcFilterPrio,
		},
		Fd:           prog.FD(),
		Name:         info.Name,
		DirectAction: true,
	}
	if err := netlink.FilterReplace(filter); err != nil {
		return fmt.Errorf("add tc filter to %s: %w", ifname, err)
	}
	return nil
}

// Detach removes what Attach put on a hook of an interface. A device that
// is already gone is not an error: its hooks went with it.
func (dp *Datapath) Detach(ifname string, ifindex int, hook Hook) error {
	errs := []error{dp.detachTCX(ifname, hook)}
	if ifindex > 0 && hook != XDP {
		errs = append(errs, detachTC(ifindex, hook))
	}
	return errors.Join(errs...)
}

// detachTCX unpins the tcx link of a hook of an interface; closing the
// last reference takes the program off.
func (dp *Datapath) detachTCX(ifname string, hook Hook) error {
	pin := dp.LinkPin(ifname, hook)
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open tcx link pin %s: %w", pin, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin tcx link %s: %w", pin, err)
	}
	return nil
}

// DetachTC removes ebpfnet's legacy tc filters from both hooks of an
// interface, leaving other filters and the qdisc.
func DetachTC(ifindex int) error {
	return errors.Join(detachTC(ifindex, Ingress), detachTC(ifindex, Egress))
}

// DetachAll removes ebpfnet's programs from both hooks of an interface.
func (dp *Datapath) DetachAll(ifname string, ifindex int) error {
	return errors.Join(dp.Detach(ifname, ifindex, Ingress), dp.Detach(ifname, ifindex, Egress), dp.DetachXDP(ifname))
}

func detachTC(ifindex int, hook Hook) error {
	filters, err := netlink.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, hook.tcParent())
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("list tc filters: %w", err)
	}
	for _, f := range filters {
		if f.Attrs().Handle == tcFilterHandle && f.Attrs().Priority == tcFilterPrio {
			if err := netlink.FilterDel(f); err != nil && !errors.Is(err, unix.ENODEV) {
				return fmt.Errorf("delete tc filter: %w", err)
			}
		}
	}
	return nil
}
