package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/logf"
	"github.com/ebpfnet/ebpfnet/datapath/store"
)

// Resolver serves every network's names on the network's gateway.
type Resolver struct {
	table atomic.Pointer[Table]
	port  uint16 // on every network's gateway
	fwd   *forwarder
	log   *zap.Logger
	Stats Stats

	mu      sync.Mutex
	servers map[string]*netServer // by network name
	closed  bool
}

// netServer is one network's resolver: UDP and TCP on its gateway.
type netServer struct {
	gateway netip.Addr
	udp     *net.UDPConn
	tcp     *dns.Server
}

// New is a resolver that serves on port of the networks' gateways and
// forwards the names it does not hold to upstreams. It serves nothing
// until Sync names the networks.
func New(port uint16, upstreams *Upstreams, log *zap.Logger) *Resolver {
	r := &Resolver{port: port, fwd: newForwarder(upstreams), log: log, servers: map[string]*netServer{}}
	r.table.Store(Build(nil, nil))
	return r
}

// Sync takes the store's networks and endpoints: the next query is
// answered from them, and each network has its resolver, none other.
func (r *Resolver) Sync(nets []store.Network, eps []store.Endpoint) {
	r.table.Store(Build(nets, eps))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	want := map[string]netip.Addr{}
	for _, n := range nets {
		want[n.Name] = n.Gateway
	}
	for name, s := range r.servers {
		if gw, ok := want[name]; !ok || gw != s.gateway {
			s.shutdown()
			delete(r.servers, name)
		}
	}
	for name, gw := range want {
		if r.servers[name] != nil {
			continue
		}
		s, err := r.serve(name, gw)
		if err != nil {
			r.log.Warn("no resolver on the network", logf.Net(name), logf.Err(err))
			continue
		}
		r.servers[name] = s
	}
}

// serve starts a network's resolver on its gateway.
func (r *Resolver) serve(network string, gw netip.Addr) (*netServer, error) {
	pc, l, err := listen(gw, r.port)
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%d: %w", gw, r.port, err)
	}
	allowed := func(a netip.Addr) bool { return r.table.Load().allows(network, a) }
	outside := func() { r.Stats.Outside.Add(1) }
	s := &netServer{gateway: gw, udp: pc,
		tcp: &dns.Server{Listener: guardedListener{l, allowed, outside}, Handler: handler{r: r, network: network},
			MsgInvalidFunc: r.invalid, MsgAcceptFunc: r.accept},
	}
	go r.serveUDP(network, pc)
	go func() {
		if err := s.tcp.ActivateAndServe(); err != nil {
			r.log.Debug("resolver stopped", logf.Net(network), logf.Err(err))
		}
	}()
	return s, nil
}

func (s *netServer) shutdown() {
	_ = s.udp.Close()
	_ = s.tcp.Shutdown()
}

// invalid counts what could not be parsed.
func (r *Resolver) invalid([]byte, error) { r.Stats.Malformed.Add(1) }

// accept is miekg's check of a query's header, counting what it refuses.
func (r *Resolver) accept(h dns.Header) dns.MsgAcceptAction {
	a := dns.DefaultMsgAcceptFunc(h)
	if a != dns.MsgAccept {
		r.Stats.Malformed.Add(1)
	}
	return a
}

// Close stops every network's resolver.
func (r *Resolver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for name, s := range r.servers {
		s.shutdown()
		delete(r.servers, name)
	}
}

// handler answers the TCP queries on one network's resolver.
type handler struct {
	r       *Resolver
	network string
}

// ServeDNS answers a query over TCP (UDP is serveUDP's).
func (h handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if m := h.r.answer(context.Background(), h.network, addrOf(w.RemoteAddr()), false, req); m != nil {
		_ = w.WriteMsg(m)
	}
}
