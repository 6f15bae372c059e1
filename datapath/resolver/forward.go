package resolver

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Forwarding: each query goes to one upstream at a time, the next only
// when one fails to answer, so one query never becomes several at once;
// and at most maxForwards are out together, so a flood of askers cannot
// turn the node into a flood upstream.
const (
	forwardTimeout = 2 * time.Second // per upstream tried
	maxTries       = 3               // upstreams tried per query
	maxForwards    = 512             // queries out at once
)

// errBusy: maxForwards queries are out already.
var errBusy = errors.New("too many queries upstream")

// forwarder sends the names the resolver does not hold upstream.
type forwarder struct {
	servers *Upstreams // the daemon's: --dns, or the node's resolv.conf
	slots   chan struct{}
	timeout time.Duration
}

func newForwarder(servers *Upstreams) *forwarder {
	return &forwarder{servers: servers, slots: make(chan struct{}, maxForwards), timeout: forwardTimeout}
}

// forward asks the servers in turn, over the asker's transport, and
// returns the first answer, carrying the asker's id.
func (f *forwarder) forward(ctx context.Context, req *dns.Msg, network string, servers []netip.AddrPort) (*dns.Msg, error) {
	if len(servers) == 0 {
		servers = f.servers.Get()
	}
	if len(servers) == 0 {
		return nil, errors.New("no upstream servers")
	}
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return nil, errBusy
	}
	out := req.Copy()
	out.Id = dns.Id()
	c := &dns.Client{Net: network, Timeout: f.timeout, UDPSize: uint16(udpSize(req))}
	var errs []error
	for i, s := range servers {
		if i == maxTries || ctx.Err() != nil {
			break
		}
		resp, _, err := c.ExchangeContext(ctx, out, s.String())
		if err == nil && resp.Id == out.Id {
			resp.Id = req.Id
			return resp, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
