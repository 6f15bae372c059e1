package netdev

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
)

// addrRetry is the pause before subscribing again after netlink ended a
// subscription (its socket overran, say).
const addrRetry = time.Second

// WatchAddrs hands fn every IPv4 address of the calling thread's network
// namespace, each with the ifindex of a device holding it (the lowest
// when two do, so listings in another order change nothing): once before
// it returns, and again after every change netlink reports, until ctx
// ends. A listing fn refuses, or one that fails, is reported to onErr and
// made again at the next change. The channel closes when the watch ended.
func (Netlink) WatchAddrs(ctx context.Context, fn func(map[netip.Addr]int) error, onErr func(error)) (<-chan struct{}, error) {
	updates, stop, err := subscribeAddrs(ctx)
	if err != nil {
		return nil, err
	}
	if err := syncAddrs(fn); err != nil {
		stop()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for range updates {
				drain(updates) // one listing covers what is queued
				if err := syncAddrs(fn); err != nil {
					onErr(err)
				}
			}
			stop()
			select {
			case <-ctx.Done():
				return
			case <-time.After(addrRetry):
			}
			// Changes in the gap are in the new listing.
			if updates, stop, err = subscribeAddrs(ctx); err == nil {
				err = syncAddrs(fn)
			}
			if err != nil {
				onErr(err)
				updates, stop = closedAddrs(), func() {}
			}
		}
	}()
	return done, nil
}

// subscribeAddrs opens an address subscription whose channel closes when
// ctx ends or its socket fails; stop closes the socket.
func subscribeAddrs(ctx context.Context) (<-chan netlink.AddrUpdate, func(), error) {
	ch := make(chan struct{})
	stop := sync.OnceFunc(func() { close(ch) })
	updates := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(updates, ch, netlink.AddrSubscribeOptions{}); err != nil {
		stop()
		return nil, nil, fmt.Errorf("subscribe to address changes: %w", err)
	}
	context.AfterFunc(ctx, stop)
	return updates, stop, nil
}

func drain(updates <-chan netlink.AddrUpdate) {
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

func closedAddrs() <-chan netlink.AddrUpdate {
	c := make(chan netlink.AddrUpdate)
	close(c)
	return c
}

// syncAddrs lists the namespace's IPv4 addresses and hands them to fn.
func syncAddrs(fn func(map[netip.Addr]int) error) error {
	var list []netlink.Addr
	var err error
	for range 3 {
		if list, err = netlink.AddrList(nil, netlink.FAMILY_V4); !errors.Is(err, netlink.ErrDumpInterrupted) {
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
	return fn(want)
}
