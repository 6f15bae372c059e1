package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
)

// defragPin is the pin of the helper namespace's netfilter link, under
// LinkDir.
const defragPin = "defrag"

// netfilterIPDefrag is BPF_F_NETFILTER_IP_DEFRAG (Linux 6.6): the kernel
// reassembles IPv4 fragments before the program runs. cilium/ebpf v0.22
// names it link.NetfilterIPDefrag but gives it the value 0, which asks
// for nothing.
const netfilterIPDefrag link.NetfilterAttachFlags = 1

// defragPriority places the program after the kernel's reassembly
// (NF_IP_PRI_CONNTRACK_DEFRAG, -400), as the kernel requires of a link
// that asks for it.
const defragPriority = 0

// DefragPin is where the helper namespace's netfilter link is pinned.
func (dp *Datapath) DefragPin() string { return filepath.Join(dp.PinDir, LinkDir, defragPin) }

// AttachDefrag has the kernel reassemble IPv4 fragments in the network
// namespace at netnsPath (bpf/lib/frag.h's helper): enet_defrag, which
// accepts every packet, on its PREROUTING hook with IP defragmentation,
// the link pinned so it outlives the daemon. A link pinned before is kept,
// unless renew says the namespace is a new one, which the old link does
// not reach: the kernel cannot swap a netfilter link's program
// (link.Update), and this one's never changes. A kernel without netfilter
// links, or without their defragmentation, refuses.
func (dp *Datapath) AttachDefrag(netnsPath string, renew bool) error {
	if !renew {
		if l, err := link.LoadPinnedLink(dp.DefragPin(), nil); err == nil {
			return l.Close()
		}
	}
	if err := dp.DetachDefrag(); err != nil {
		return err
	}
	spec, err := loadDefrag()
	if err != nil {
		return err
	}
	var objs defragObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return fmt.Errorf("load netfilter program: %w", err)
	}
	// The pinned link holds the program once it is attached.
	defer func() { _ = objs.Close() }()
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", netnsPath, err)
	}
	defer ns.Close()
	if err := os.MkdirAll(filepath.Dir(dp.DefragPin()), 0o700); err != nil {
		return fmt.Errorf("create link pin dir: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		// A netfilter link hooks the namespace of the thread that makes
		// it. The thread, left there and still locked when the goroutine
		// ends, is destroyed by the runtime.
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", netnsPath, err)
			return
		}
		errc <- dp.pinDefrag(objs.EnetDefrag)
	}()
	return <-errc
}

func (dp *Datapath) pinDefrag(prog *ebpf.Program) error {
	l, err := link.AttachNetfilter(link.NetfilterOptions{
		Program: prog, ProtocolFamily: link.NetfilterProtoIPv4, Hook: link.NetfilterInetPreRouting,
		Priority: defragPriority, NetfilterFlags: netfilterIPDefrag,
	})
	if err != nil {
		return fmt.Errorf("attach netfilter link with IP defragmentation: %w", err)
	}
	defer l.Close()
	if err := l.Pin(dp.DefragPin()); err != nil {
		return fmt.Errorf("pin netfilter link: %w", err)
	}
	return nil
}

// DetachDefrag unpins the helper namespace's netfilter link: the kernel
// stops reassembling there, and lets go of the namespace, which the link
// holds.
func (dp *Datapath) DetachDefrag() error {
	if err := os.Remove(dp.DefragPin()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpin netfilter link: %w", err)
	}
	return nil
}

// DefragLink is the pinned netfilter link's id and its program's; zero
// when none is pinned.
func (dp *Datapath) DefragLink() (link.ID, ebpf.ProgramID, error) {
	l, err := link.LoadPinnedLink(dp.DefragPin(), nil)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("open netfilter link pin: %w", err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		return 0, 0, fmt.Errorf("read netfilter link: %w", err)
	}
	return info.ID, info.Program, nil
}
