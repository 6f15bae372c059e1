package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// XDPMode is how enet_xdp_up is attached to the uplink.
type XDPMode string

const (
	XDPAuto    XDPMode = "auto"    // native where the driver has it, else generic
	XDPNative  XDPMode = "native"  // in the driver, before any socket buffer
	XDPGeneric XDPMode = "generic" // in the stack, for drivers without native XDP
	XDPOff     XDPMode = "off"     // none
)

// ParseXDPMode checks a --xdp value.
func ParseXDPMode(s string) (XDPMode, error) {
	switch m := XDPMode(s); m {
	case XDPAuto, XDPNative, XDPGeneric, XDPOff:
		return m, nil
	}
	return "", fmt.Errorf("xdp mode %q: want auto, native, generic or off", s)
}

// XDP is the hook of enet_xdp_up, naming its link pin IFNAME_xdp.
const XDP Hook = "xdp"

// AttachXDP puts enet_xdp_up on a device in mode, replacing ebpfnet's
// program there in one step (link.Update) when its pinned link is there,
// and returns the mode it got: auto tries native, then generic.
func (dp *Datapath) AttachXDP(mode XDPMode, ifname string, ifindex int) (XDPMode, error) {
	pin := dp.LinkPin(ifname, XDP)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if got := XDPAttached(ifindex); linkIfindex(l) == ifindex && (mode == XDPAuto || mode == got) {
			if err := l.Update(dp.EnetXdpUp); err != nil {
				return "", fmt.Errorf("update xdp link on %s: %w", ifname, err)
			}
			return got, nil
		}
		if err := l.Unpin(); err != nil {
			return "", fmt.Errorf("unpin xdp link %s: %w", pin, err)
		}
	}
	tries := []XDPMode{mode}
	if mode == XDPAuto {
		tries = []XDPMode{XDPNative, XDPGeneric}
	}
	var errs []error
	for _, m := range tries {
		flags := link.XDPDriverMode
		if m == XDPGeneric {
			flags = link.XDPGenericMode
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: dp.EnetXdpUp, Interface: ifindex, Flags: flags})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		defer l.Close()
		if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
			return "", fmt.Errorf("create link pin dir: %w", err)
		}
		if err := l.Pin(pin); err != nil {
			return "", fmt.Errorf("pin xdp link to %s: %w", pin, err)
		}
		return m, nil
	}
	return "", fmt.Errorf("attach xdp to %s: %w", ifname, errors.Join(errs...))
}

// XDPAttached is how a device runs an XDP program now, as the kernel
// reports it: native, generic, or "" for none.
func XDPAttached(ifindex int) XDPMode {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil || l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached {
		return ""
	}
	switch l.Attrs().Xdp.AttachMode {
	case nl.XDP_ATTACHED_DRV, nl.XDP_ATTACHED_HW:
		return XDPNative
	case nl.XDP_ATTACHED_SKB:
		return XDPGeneric
	}
	return ""
}

// DetachXDP takes enet_xdp_up off a device: its pinned link goes.
func (dp *Datapath) DetachXDP(ifname string) error { return dp.detachTCX(ifname, XDP) }
