package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Attached reports the programs on both hooks of an interface, tcx links
// and legacy tc filters alike, and its XDP program (mode native or
// generic).
func Attached(ifname string, ifindex int) ([]Attachment, error) {
	var out []Attachment
	if l, err := netlink.LinkByIndex(ifindex); err == nil && l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached {
		out = append(out, Attachment{Ifname: ifname, Ifindex: ifindex, Hook: XDP, Mode: Mode(XDPAttached(ifindex)),
			ProgID: ebpf.ProgramID(l.Attrs().Xdp.ProgId)})
	}
	for _, hook := range Hooks {
		res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: hook.tcx()})
		if err == nil {
			for _, p := range res.Programs {
				out = append(out, Attachment{Ifname: ifname, Ifindex: ifindex, Hook: hook, Mode: ModeTCX, ProgID: p.ID})
			}
		}
		filters, err := netlink.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifindex}}, hook.tcParent())
		if err != nil {
			return out, fmt.Errorf("list tc filters on %s: %w", ifname, err)
		}
		for _, f := range filters {
			if bf, ok := f.(*netlink.BpfFilter); ok {
				out = append(out, Attachment{Ifname: ifname, Ifindex: ifindex, Hook: hook, Mode: ModeTC, ProgID: ebpf.ProgramID(bf.Id)})
			}
		}
	}
	return out, nil
}

// ProgramName is the kernel's name of a loaded program.
func ProgramName(id ebpf.ProgramID) string {
	p, err := ebpf.NewProgramFromID(id)
	if err != nil {
		return ""
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Name
}

// CgroupLink is a socket program's pinned cgroup link, as the kernel
// reports it.
type CgroupLink struct {
	Name     string // its pin name under LinkDir, a SockHook's
	Attach   ebpf.AttachType
	ProgID   ebpf.ProgramID
	CgroupID uint64 // the inode of the cgroup's directory
}

// CgroupLinks reports the socket programs' pinned cgroup links; a hook
// with no pin is left out.
func (dp *Datapath) CgroupLinks() ([]CgroupLink, error) {
	var out []CgroupLink
	var errs []error
	for _, h := range SockHooks {
		pin := filepath.Join(dp.PinDir, LinkDir, h.Name)
		l, err := link.LoadPinnedLink(pin, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("open pinned link %s: %w", pin, err))
			continue
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("link info of %s: %w", pin, err))
			continue
		}
		cl := CgroupLink{Name: h.Name, Attach: h.Attach, ProgID: info.Program}
		if ci := info.Cgroup(); ci != nil {
			cl.Attach, cl.CgroupID = ebpf.AttachType(ci.AttachType), ci.CgroupId
		}
		out = append(out, cl)
	}
	return out, errors.Join(errs...)
}
