package monitor

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/maps"
)

// Names resolve the datapath's ifindexes and endpoint addresses to what
// users call them.
type Names struct {
	Ifaces map[int]Owner        // by ifindex: the device's name, and its endpoint and network
	Addrs  map[netip.Addr]Owner // endpoint addresses
}

// Owner is a device or an address: its name and whose it is.
type Owner struct {
	Name, Endpoint, Network string
}

// namer keeps Names, reloading them when an ifindex or address is not
// there, at most once a second.
type namer struct {
	load func() (Names, error)
	mu   sync.Mutex
	nm   Names
	at   time.Time
}

func (n *namer) iface(idx int) Owner {
	return lookup(n, func(nm Names) map[int]Owner { return nm.Ifaces }, idx)
}

func (n *namer) addr(a netip.Addr) Owner {
	return lookup(n, func(nm Names) map[netip.Addr]Owner { return nm.Addrs }, a)
}

// lookup finds k in one of the names' maps, reloading them once if it
// is not there and they are a second old.
func lookup[K comparable](n *namer, in func(Names) map[K]Owner, k K) Owner {
	n.mu.Lock()
	defer n.mu.Unlock()
	o, ok := in(n.nm)[k]
	if !ok && n.stale() {
		o = in(n.nm)[k]
	}
	return o
}

// stale reloads the names if the last load is a second old.
func (n *namer) stale() bool {
	if time.Since(n.at) < time.Second {
		return false
	}
	n.at = time.Now()
	if nm, err := n.load(); err == nil {
		n.nm = nm
	}
	return true
}

// view is an event as monitors show it.
func (h *Hub) view(e maps.Event) api.MonitorEvent {
	ev := api.MonitorEvent{Time: h.wall(e.MonotonicNs), Program: e.Program, Proto: maps.ProtoName(e.Proto),
		Src: endpointAddr(e.Src, e.Proto), Dst: endpointAddr(e.Dst, e.Proto)}
	if e.Xlated {
		ev.XSrc, ev.XDst = endpointAddr(e.XSrc, e.Proto), endpointAddr(e.XDst, e.Proto)
	}
	here := h.nm.iface(e.Ifindex)
	ev.Interface, ev.Endpoint, ev.Network = here.Name, here.Endpoint, here.Network
	switch e.Kind {
	case maps.EventFlow:
		ev.Type, ev.Translation = TypeFlow, translation(e.Flow)
		h.peers(&ev, e.Src.Addr(), e.XDst.Addr())
	case maps.EventSock:
		ev.Type, ev.Translation = TypeSocket, "socket"
		if e.DNS {
			ev.Translation = "dns"
		}
		h.peers(&ev, e.XDst.Addr())
	default:
		h.verdictView(&ev, e)
	}
	return ev
}

func (h *Hub) verdictView(ev *api.MonitorEvent, e maps.Event) {
	ev.Type, ev.Verdict, ev.Reason, ev.Len = TypeVerdict, "pass", maps.ReasonName(e.Reason), e.Len
	switch {
	case maps.IsDrop(e.Reason):
		ev.Type, ev.Verdict = TypeDrop, "drop"
	case e.Target != 0 || strings.HasPrefix(ev.Reason, "forward-"):
		ev.Verdict = "forward"
	}
	if e.Target != 0 {
		to := h.nm.iface(e.Target)
		ev.Target, ev.Peer = to.Name, to.Endpoint
		if ev.Peer == ev.Endpoint {
			ev.Peer = ""
		}
	}
	h.peers(ev, e.Src.Addr(), e.Dst.Addr(), e.XDst.Addr())
}

// peers fills in the endpoint (and network) an event is about from its
// addresses, when where it ran does not say: a flow of the node's, a
// socket rewrite, a packet on the uplink.
func (h *Hub) peers(ev *api.MonitorEvent, addrs ...netip.Addr) {
	for _, a := range addrs {
		o := h.nm.addr(a)
		switch {
		case o.Endpoint == "":
		case ev.Endpoint == "":
			ev.Endpoint, ev.Network = o.Endpoint, o.Network
		case ev.Peer == "" && o.Endpoint != ev.Endpoint:
			ev.Peer = o.Endpoint
		}
	}
}

// translation names what a flow's conntrack flags say it is.
func translation(f maps.Flow) string {
	switch {
	case f.Node():
		return "node"
	case f.Hairpin():
		return "hairpin"
	case f.Published():
		return "dnat"
	case f.Masquerade():
		return "masquerade"
	}
	return ""
}

// endpointAddr shows an address with its port for the protocols that
// have one (ICMP's is its query id); "" for none.
func endpointAddr(ap netip.AddrPort, proto uint8) string {
	switch {
	case !ap.Addr().IsValid() || ap.Addr().IsUnspecified() && ap.Port() == 0:
		return ""
	case !hasPorts[proto]:
		return ap.Addr().String()
	}
	return ap.String()
}

// hasPorts are the protocols whose tuples carry ports (ICMP: its id).
var hasPorts = map[uint8]bool{1: true, 6: true, 17: true, 33: true, 132: true, 136: true}

// FlowEnd is the event of a flow that ended: the GC removed it expired,
// or a removal flushed it.
func (h *Hub) FlowEnd(f maps.Flow, now uint64) {
	ev := api.MonitorEvent{Time: h.wall(now), Type: TypeFlowEnd, Proto: maps.ProtoName(f.Tuple.Proto),
		Src: endpointAddr(f.Tuple.Src, f.Tuple.Proto), Dst: endpointAddr(f.Tuple.Dst, f.Tuple.Proto),
		Translation: translation(f), Packets: f.PacketsOrig + f.PacketsReply, Bytes: f.BytesOrig + f.BytesReply,
		// Until it expired (its idle timeout included), or was flushed.
		Seconds: time.Duration(min(now, f.ExpiresNs) - f.CreatedNs).Seconds()}
	if f.Reply.Dst.IsValid() {
		// The reply tuple, reversed, is the flow as translated.
		ev.XSrc, ev.XDst = endpointAddr(f.Reply.Dst, f.Tuple.Proto), endpointAddr(f.Reply.Src, f.Tuple.Proto)
	}
	if f.Ifindex != 0 {
		o := h.nm.iface(f.Ifindex)
		ev.Interface, ev.Endpoint, ev.Network = o.Name, o.Endpoint, o.Network
	}
	h.peers(&ev, f.Tuple.Src.Addr(), f.Reply.Src.Addr())
	h.Publish(now, ev)
}
