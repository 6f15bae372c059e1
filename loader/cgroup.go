package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// SockHook is one of the socket programs and the cgroup hook it runs on.
type SockHook struct {
	Name   string // pin name under links/
	Attach ebpf.AttachType
	Prog   func(*Datapath) *ebpf.Program
}

// SockHooks are the node's socket-level rewrites for published ports.
var SockHooks = []SockHook{
	{"cgroup_connect4", ebpf.AttachCGroupInet4Connect, func(dp *Datapath) *ebpf.Program { return dp.EnetSockConn4 }},
	{"cgroup_sendmsg4", ebpf.AttachCGroupUDP4Sendmsg, func(dp *Datapath) *ebpf.Program { return dp.EnetSockSend4 }},
	{"cgroup_recvmsg4", ebpf.AttachCGroupUDP4Recvmsg, func(dp *Datapath) *ebpf.Program { return dp.EnetSockRecv4 }},
	{"cgroup_getpeername4", ebpf.AttachCgroupInet4GetPeername, func(dp *Datapath) *ebpf.Program { return dp.EnetSockPeer4 }},
}

// AttachCgroup puts the socket programs on a cgroup (v2) as pinned links,
// or swaps the programs of links pinned before with link.Update.
func (dp *Datapath) AttachCgroup(cgroup string) error {
	if err := os.MkdirAll(filepath.Join(dp.PinDir, LinkDir), 0o700); err != nil {
		return fmt.Errorf("create link pin dir: %w", err)
	}
	for _, h := range SockHooks {
		if err := dp.attachCgroupHook(cgroup, h); err != nil {
			return err
		}
	}
	return nil
}

func (dp *Datapath) attachCgroupHook(cgroup string, h SockHook) error {
	pin := filepath.Join(dp.PinDir, LinkDir, h.Name)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		if err := l.Update(h.Prog(dp)); err != nil {
			return fmt.Errorf("update %s link: %w", h.Name, err)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("open pinned link %s: %w", pin, err)
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: h.Attach, Program: h.Prog(dp)})
	if err != nil {
		return fmt.Errorf("attach %s to cgroup %s: %w", h.Name, cgroup, err)
	}
	defer l.Close()
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pin %s link: %w", h.Name, err)
	}
	return nil
}
