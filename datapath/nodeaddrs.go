package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/maps"
)

// nodeAddrWatch keeps enet_node_addrs holding every IPv4 address of the
// daemon's network namespace, so a port published on every address
// answers on all of them, as Docker's DNAT (--dst-type LOCAL) does: a
// second address of the uplink, another device's, each bridge's gateway.
// It lists them at start, then lists them again on every address change
// netlink reports.
type nodeAddrWatch struct {
	addrs    maps.NodeAddrs
	log      *zap.Logger
	ns       netns.NsHandle
	h        *netlink.Handle
	done     chan struct{}
	finished chan struct{}
}

// nodeAddrRetry is the pause before subscribing again after netlink ended
// a subscription (its socket overran, say).
const nodeAddrRetry = time.Second

// watchNodeAddrs fills enet_node_addrs and keeps it in step with the
// namespace the calling thread is in until Stop.
func watchNodeAddrs(addrs maps.NodeAddrs, log *zap.Logger) (*nodeAddrWatch, error) {
	ns, err := netns.GetFromPath("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open own netns: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink in own netns: %w", err)
	}
	w := &nodeAddrWatch{addrs: addrs, log: log, ns: ns, h: h, done: make(chan struct{}), finished: make(chan struct{})}
	updates, err := w.subscribe()
	if err == nil {
		err = w.sync()
	}
	if err != nil {
		close(w.done)
		w.close()
		return nil, err
	}
	go w.run(updates)
	return w, nil
}

// Stop ends the watch; the map keeps what it holds, as every map does
// while the daemon is down.
func (w *nodeAddrWatch) Stop() {
	close(w.done)
	<-w.finished
	w.close()
}

func (w *nodeAddrWatch) close() {
	w.h.Close()
	w.ns.Close()
}

// subscribe asks netlink for address changes. Closing done closes the
// subscription's socket, and netlink then closes the channel.
func (w *nodeAddrWatch) subscribe() (chan netlink.AddrUpdate, error) {
	updates := make(chan netlink.AddrUpdate, 64)
	err := netlink.AddrSubscribeWithOptions(updates, w.done, netlink.AddrSubscribeOptions{
		Namespace: &w.ns,
		ErrorCallback: func(err error) {
			select {
			case <-w.done: // Stop closed the socket under the receive
			default:
				w.log.Warn("node address notifications", zapErr(err))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	return updates, nil
}

func (w *nodeAddrWatch) run(updates chan netlink.AddrUpdate) {
	defer close(w.finished)
	for {
		for u := range updates {
			if u.LinkAddress.IP.To4() == nil {
				continue
			}
			drain(updates)
			if err := w.sync(); err != nil {
				w.log.Warn("update node addresses", zapErr(err))
			}
		}
		select {
		case <-w.done:
			return
		case <-time.After(nodeAddrRetry):
		}
		// Changes in the gap are in the new listing.
		var err error
		if updates, err = w.subscribe(); err == nil {
			err = w.sync()
		}
		if err != nil {
			w.log.Warn("resume node address notifications", zapErr(err))
			updates = closedAddrUpdates()
		}
	}
}

// drain takes the notifications already queued: one listing covers them.
func drain(updates chan netlink.AddrUpdate) {
	for {
		select {
		case _, ok := <-updates:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

func closedAddrUpdates() chan netlink.AddrUpdate {
	c := make(chan netlink.AddrUpdate)
	close(c)
	return c
}

// sync lists the namespace's IPv4 addresses and writes them to the map.
// An address on two devices is recorded with the lower ifindex, so
// listings in another order change nothing.
func (w *nodeAddrWatch) sync() error {
	var list []netlink.Addr
	var err error
	for try := 0; try < 3; try++ {
		if list, err = w.h.AddrList(nil, netlink.FAMILY_V4); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("list node addresses: %w", err)
	}
	want := map[netip.Addr]int{}
	for _, a := range list {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		if !ok {
			continue
		}
		if cur, seen := want[ip]; !seen || a.LinkIndex < cur {
			want[ip] = a.LinkIndex
		}
	}
	return w.addrs.Sync(want)
}
