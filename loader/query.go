package loader

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Attached reports the programs on both hooks of an interface, tcx links
// and legacy tc filters alike.
func Attached(ifname string, ifindex int) ([]Attachment, error) {
	var out []Attachment
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
