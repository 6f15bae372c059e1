package monitor

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ebpfnet/ebpfnet/datapath/api"
)

// Event types, as api.MonitorEvent.Type names them.
const (
	TypeDrop    = "drop"     // a verdict that dropped the packet
	TypeVerdict = "verdict"  // any other verdict
	TypeFlow    = "flow"     // a new flow and its translation
	TypeFlowEnd = "flow-end" // a flow the GC (or a removal) ended, with its counts
	TypeSocket  = "socket"   // a socket the socket programs sent elsewhere
	TypeLost    = "lost"     // events this monitor did not get
)

// Filter is what a monitor wants: of the types it asks for (--type: drop;
// verdict, every verdict, drops included; flow, new and ended flows and
// socket rewrites; none: everything), those of an endpoint, a network,
// a protocol or a port.
type Filter struct {
	Types    []string
	Endpoint string
	Network  string
	Proto    string
	Port     uint16
}

// FilterOf checks an API filter.
func FilterOf(f api.MonitorFilter) (Filter, error) {
	for _, t := range f.Types {
		if t != TypeDrop && t != TypeVerdict && t != TypeFlow {
			return Filter{}, errInvalid("monitor type %q: want drop, verdict or flow", t)
		}
	}
	return Filter{Types: f.Types, Endpoint: f.Endpoint, Network: f.Network, Proto: strings.ToLower(f.Proto), Port: f.Port}, nil
}

// wants says whether the filter takes events that make the datapath
// write what t needs.
func (f Filter) wants(t string) bool {
	if len(f.Types) == 0 {
		return t != TypeDrop // every verdict includes the drops
	}
	if t == TypeDrop {
		return slices.Contains(f.Types, TypeDrop) && !slices.Contains(f.Types, TypeVerdict)
	}
	return slices.Contains(f.Types, t)
}

// Match says whether an event passes the filter.
func (f Filter) Match(ev api.MonitorEvent) bool {
	if !f.typeMatch(ev.Type) {
		return false
	}
	switch {
	case f.Endpoint != "" && ev.Endpoint != f.Endpoint && ev.Peer != f.Endpoint:
		return false
	case f.Network != "" && ev.Network != f.Network:
		return false
	case f.Proto != "" && ev.Proto != f.Proto:
		return false
	case f.Port != 0 && !hasPort(f.Port, ev.Src, ev.Dst, ev.XSrc, ev.XDst):
		return false
	}
	return true
}

func (f Filter) typeMatch(t string) bool {
	if len(f.Types) == 0 || t == TypeLost {
		return true
	}
	for _, want := range f.Types {
		switch {
		case want == t, want == TypeVerdict && t == TypeDrop,
			want == TypeFlow && (t == TypeFlowEnd || t == TypeSocket):
			return true
		}
	}
	return false
}

func hasPort(port uint16, addrs ...string) bool {
	p := strconv.Itoa(int(port))
	for _, a := range addrs {
		if i := strings.LastIndexByte(a, ':'); i >= 0 && a[i+1:] == p {
			return true
		}
	}
	return false
}

// Sub is one monitor attached to the hub.
type Sub struct {
	hub        *Hub
	filter     Filter
	c          chan api.MonitorEvent
	done       chan struct{} // closed when the hub lets the monitor go
	since      uint64        // CLOCK_MONOTONIC ns it was attached at
	lost       atomic.Uint64
	kernelLost atomic.Uint64
}

// send hands the monitor an event, or counts it lost when its buffer is
// full: a slow reader never holds the hub up.
func (s *Sub) send(ev api.MonitorEvent) {
	select {
	case s.c <- ev:
	default:
		s.lost.Add(1)
	}
}

// Events are the monitor's events.
func (s *Sub) Events() <-chan api.MonitorEvent { return s.c }

// Done is closed when the hub lets the monitor go (the daemon stops).
func (s *Sub) Done() <-chan struct{} { return s.done }

// Close detaches the monitor.
func (s *Sub) Close() { s.hub.Unsubscribe(s) }

// Lost is how many events the monitor lost: by falling behind (reader),
// and because the datapath's ring had no room (datapath).
func (s *Sub) Lost() (reader, datapath uint64) { return s.lost.Load(), s.kernelLost.Load() }
