package netdev

import (
	"context"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkEvent is a device of the daemon's namespace deleted, or, with Lost
// set, the news that events were lost (the kernel's buffer overflowed)
// and the caller must look for itself.
type LinkEvent struct {
	Name  string
	Index int
	Lost  bool
}

// WatchLinks calls fn for every device deleted in the calling thread's
// network namespace, as the kernel reports it, until ctx ends. A veth dies
// with the namespace of its other end, so an endpoint's host side going
// is the news that its namespace went away. Subscribing fails only at the
// start; a subscription that breaks later is taken again and reported as
// a Lost event. The returned channel closes when the watch has ended and
// fn will not be called again.
func (Netlink) WatchLinks(ctx context.Context, fn func(LinkEvent)) (<-chan struct{}, error) {
	updates, stop, err := subscribe(ctx)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for u := range updates {
				if u.Header.Type == unix.RTM_DELLINK {
					fn(LinkEvent{Name: u.Attrs().Name, Index: u.Attrs().Index})
				}
			}
			stop()
			if ctx.Err() != nil {
				return
			}
			updates, stop, err = subscribe(ctx)
			fn(LinkEvent{Lost: true})
			if err != nil {
				return
			}
		}
	}()
	return done, nil
}

// subscribe opens a link subscription. Its channel closes when ctx ends
// or its socket fails (ENOBUFS: events lost); stop closes the socket.
func subscribe(ctx context.Context) (<-chan netlink.LinkUpdate, func(), error) {
	done := make(chan struct{})
	stop := sync.OnceFunc(func() { close(done) })
	updates := make(chan netlink.LinkUpdate, 1024)
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ReceiveBufferSize: 4 << 20, ReceiveBufferForceSize: true,
	})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("subscribe to link events: %w", err)
	}
	context.AfterFunc(ctx, stop)
	return updates, stop, nil
}
