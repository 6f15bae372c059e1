package bpftest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// The world the masquerade tests run in: a node whose uplink is on
// 198.51.100.0/24 (.1, and .2 besides) with a router beyond it, three networks (masquerading,
// routed, internal) and their endpoints. The ifindexes are fixed, so the
// tables can name them; the node's netns makes them real. Every device is
// one end of a veth pair (this kernel has no dummy driver); the other ends
// get the lowest free ifindexes, below all of these.
const (
	uplinkIdx = 40 // "uplink", whose peer is "router"
	sideIdx   = 41 // "side": 192.0.2.0/24 is routed out of it
	defragIdx = 42 // "dfrg": the node side of the helper namespace's veth (frag.h)
)

var (
	snatIP    = addr("198.51.100.1") // the uplink's address
	routerIP  = addr("198.51.100.254")
	uplinkMAC = hw("02:00:00:c6:33:01")
	routerMAC = hw("02:00:00:c6:33:fe")
	remote    = addr("203.0.113.10")  // beyond the router
	noNeigh   = addr("203.0.113.200") // via 198.51.100.253, which has no neighbour entry
	sideDst   = addr("192.0.2.50")    // routed out of "side", not the uplink

	masqNet = maps.Network{
		ID: 1, Subnet: netip.MustParsePrefix("10.10.0.0/24"), Gateway: addr("10.10.0.1"),
		BridgeIfindex: 100, GatewayMAC: hw("02:00:00:0a:0a:01"), ICC: true, Masquerade: true,
	}
	routedNet = maps.Network{ // masquerade=false
		ID: 2, Subnet: netip.MustParsePrefix("10.20.0.0/24"), Gateway: addr("10.20.0.1"),
		BridgeIfindex: 200, GatewayMAC: hw("02:00:00:0a:14:01"), ICC: true,
	}
	internalNet = maps.Network{
		ID: 3, Subnet: netip.MustParsePrefix("10.30.0.0/24"), Gateway: addr("10.30.0.1"),
		BridgeIfindex: 300, GatewayMAC: hw("02:00:00:0a:1e:01"), ICC: true, Internal: true, Masquerade: true,
	}

	m1 = Endpoint{Ifindex: 11, IP: addr("10.10.0.2"), MAC: hw("02:42:0a:0a:00:02"), NetID: 1}
	m2 = Endpoint{Ifindex: 12, IP: addr("10.10.0.3"), MAC: hw("02:42:0a:0a:00:03"), NetID: 1}
	// m3's source has a policy rule: `ip rule from 10.10.0.4 lookup 100`,
	// and table 100 prohibits everything.
	m3 = Endpoint{Ifindex: 13, IP: addr("10.10.0.4"), MAC: hw("02:42:0a:0a:00:04"), NetID: 1}
	r1 = Endpoint{Ifindex: 21, IP: addr("10.20.0.2"), MAC: hw("02:42:0a:14:00:02"), NetID: 2}
	i1 = Endpoint{Ifindex: 31, IP: addr("10.30.0.2"), MAC: hw("02:42:0a:1e:00:02"), NetID: 3}

	// The node's addresses as the daemon writes them to enet_node_addrs:
	// its devices', the bridges' gateways among them.
	nodeAddrs = map[netip.Addr]int{
		snatIP: uplinkIdx, addr("198.51.100.2"): uplinkIdx, addr("192.0.2.1"): sideIdx, addr("127.0.0.1"): 1,
		masqNet.Gateway: 100, routedNet.Gateway: 200, internalNet.Gateway: 300,
	}

	nodeNetworks  = []maps.Network{masqNet, routedNet, internalNet}
	nodeEndpoints = []Endpoint{m1, m2, m3, r1, i1}
)

// Conntrack timeouts in seconds, all different so an expiry tells the state.
const (
	toSynSent, toSynRecv, toEstablished, toUnack  = 121, 61, 3600, 301
	toFinWait, toCloseWait, toLastAck, toTimeWait = 122, 62, 31, 123
	toClose, toUDP, toUDPStream, toICMP           = 10, 30, 180, 20
	toGeneric                                     = 90
	portMin, portMax                              = 61000, 61999
)

const (
	fwdSNAT      = loader.EnetReasonREASON_FWD_SNAT
	unresolved   = loader.EnetReasonREASON_TO_BRIDGE_UNRESOLVED
	fwdICMPError = loader.EnetReasonREASON_FWD_ICMP_ERROR
	untranslated = loader.EnetReasonREASON_DROP_UNTRANSLATED
	fwdRouted    = loader.EnetReasonREASON_FWD_ROUTED
	fwdReply     = loader.EnetReasonREASON_FWD_REPLY
	toHost       = loader.EnetReasonREASON_TO_HOST
	hostFlow     = loader.EnetReasonREASON_HOST_FLOW
	dropInternal = loader.EnetReasonREASON_DROP_INTERNAL
	exhausted    = loader.EnetReasonREASON_DROP_NAT_EXHAUSTED
	natProto     = loader.EnetReasonREASON_DROP_NAT_PROTO
	fragment     = loader.EnetReasonREASON_DROP_FRAGMENT
	noRoute      = loader.EnetReasonREASON_DROP_NO_ROUTE
	direct       = loader.EnetReasonREASON_DROP_DIRECT
	noFlow       = loader.EnetReasonREASON_DROP_NO_FLOW
	tooBig       = loader.EnetReasonREASON_DROP_TOO_BIG
	flowEvicted  = loader.EnetReasonREASON_FLOW_EVICTED
	natClash     = loader.EnetReasonREASON_DROP_NAT_CLASH
)

// nodeConfig is enet_config as the daemon writes it for the node.
func nodeConfig() loader.EnetConfig {
	return loader.EnetConfig{
		Flags:         loader.EnetConfigFlagCONFIG_F_TRACE,
		UplinkIfindex: uplinkIdx, SnatIp: snatIP.As4(), PortMin: portMin, PortMax: portMax,
		TimeoutTcpSynSent: toSynSent, TimeoutTcpSynRecv: toSynRecv, TimeoutTcpEstablished: toEstablished,
		TimeoutTcpFinWait: toFinWait, TimeoutTcpCloseWait: toCloseWait, TimeoutTcpLastAck: toLastAck,
		TimeoutTcpTimeWait: toTimeWait, TimeoutTcpClose: toClose, TimeoutTcpUnacknowledged: toUnack,
		TimeoutUdp: toUDP, TimeoutUdpStream: toUDPStream, TimeoutIcmp: toICMP, TimeoutGeneric: toGeneric,
	}
}

// nodeWorld is what the subtests of one masquerade test share: the node's
// network namespace and a loaded datapath.
type nodeWorld struct {
	ns netns.NsHandle
	d  *Datapath
}

func newNodeWorld(t *testing.T) *nodeWorld {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_RUN tests require root")
	}
	return &nodeWorld{ns: NewNetns(t, setupNode), d: Load(t)}
}

// setupNode builds the node in the calling thread's (new) netns: the
// uplink with the node's address, a default route via the router, whose
// MAC is a permanent neighbour entry so the FIB returns it, a route via an
// unresolved neighbour, a device routing elsewhere, each endpoint's host
// veth (bpf_fib_lookup needs the ingress device to exist and forward) and
// each network's bridge (a veth too),
// m3's source rule, and forwarding on.
func setupNode() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	uplink := veth("uplink", uplinkIdx, "router")
	uplink.HardwareAddr, uplink.PeerHardwareAddr = uplinkMAC, routerMAC
	side := veth("side", sideIdx, "side-peer")
	links := []netlink.Link{lo, uplink, side, veth("dfrg", defragIdx, "dfrg-peer")}
	for _, e := range nodeEndpoints {
		name := fmt.Sprintf("ep%d", e.Ifindex)
		links = append(links, veth(name, e.Ifindex, name+"-peer"))
	}
	// The bridges' stand-ins: enet_to_br runs on their ifindexes.
	for _, n := range nodeNetworks {
		name := fmt.Sprintf("br%d", n.BridgeIfindex)
		links = append(links, veth(name, int(n.BridgeIfindex), name+"-peer"))
	}
	for _, l := range links[1:] {
		if err := netlink.LinkAdd(l); err != nil {
			return fmt.Errorf("add %s: %w", l.Attrs().Name, err)
		}
	}
	for _, l := range links {
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", l.Attrs().Name, err)
		}
		if v, ok := l.(*netlink.Veth); ok {
			if err := setUpByName(v.PeerName); err != nil {
				return err
			}
		}
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"address uplink", func() error {
			return netlink.AddrAdd(uplink, &netlink.Addr{IPNet: ipNet("198.51.100.1/24")})
		}},
		{"second address uplink", func() error {
			return netlink.AddrAdd(uplink, &netlink.Addr{IPNet: ipNet("198.51.100.2/24")})
		}},
		{"address side", func() error { return netlink.AddrAdd(side, &netlink.Addr{IPNet: ipNet("192.0.2.1/24")}) }},
		{"add router neighbour", func() error {
			return netlink.NeighAdd(&netlink.Neigh{
				LinkIndex: uplinkIdx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
				IP: routerIP.AsSlice(), HardwareAddr: routerMAC,
			})
		}},
		{"add default route", func() error {
			return netlink.RouteAdd(&netlink.Route{LinkIndex: uplinkIdx, Gw: routerIP.AsSlice()})
		}},
		{"add unresolved route", func() error {
			return netlink.RouteAdd(&netlink.Route{
				LinkIndex: uplinkIdx, Dst: ipNet("203.0.113.128/25"), Gw: net.ParseIP("198.51.100.253"),
			})
		}},
		{"prohibit everything in table 100", func() error {
			return netlink.RouteAdd(&netlink.Route{Table: 100, Type: unix.RTN_PROHIBIT, Dst: ipNet("0.0.0.0/0")})
		}},
		{"add m3's source rule", func() error {
			r := netlink.NewRule()
			r.Src, r.Table = ipNet(m3.IP.String()+"/32"), 100
			return netlink.RuleAdd(r)
		}},
		{"turn forwarding on", func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

func veth(name string, index int, peer string) *netlink.Veth {
	return &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index}, PeerName: peer}
}

func setUpByName(name string) error {
	l, err := netlink.LinkByName(name)
	if err == nil {
		err = netlink.LinkSetUp(l)
	}
	if err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func ipNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// node is the shared datapath as one test sees it, from inside the node's
// netns.
type node struct {
	*Datapath
	t *testing.T
}

// node enters the node's netns for the rest of the test and readies the
// shared datapath for it: the node's networks, endpoints and configuration,
// and nothing else.
func (w *nodeWorld) node(t *testing.T) *node {
	t.Helper()
	EnterNetns(t, w.ns)
	d := w.d.Reuse(t)
	for _, n := range nodeNetworks {
		d.PutNetwork(n)
	}
	for _, e := range nodeEndpoints {
		d.PutEndpoint(e)
	}
	must(t, d.Maps.NodeAddrs.Sync(nodeAddrs))
	d.SetConfig(nodeConfig())
	return &node{Datapath: d, t: t}
}

// verdict is what a test expects of one run: the return code, and the
// reason and redirect target of the one event and the one counter that
// grows, on the interface the program runs on.
type verdict struct {
	ret    uint32
	reason maps.Reason
	target int
}

var (
	snatOut   = verdict{ActRedirect, fwdSNAT, uplinkIdx}
	toKernel  = verdict{ActOK, unresolved, 0} // next hop unresolved
	routedOut = verdict{ActRedirect, fwdRouted, uplinkIdx}
	passed    = verdict{ActOK, toBridge, 0}
	hostPass  = verdict{ActOK, hostFlow, 0}
	toStack   = verdict{ActOK, toHost, 0}
	// to a published port of a gone endpoint: counted, left to the node
	endpointGone = verdict{ActOK, loader.EnetReasonREASON_DROP_ENDPOINT_GONE, 0}
)

func shot(r maps.Reason) verdict { return verdict{ActShot, r, 0} }

func replyTo(e Endpoint) verdict { return verdict{ActRedirect, fwdReply, e.Ifindex} }

// fromEp runs enet_from_ep on p as sent by e.
func (n *node) fromEp(e Endpoint, p pkt, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetFromEp, SkBuff{IngressIfindex: uint32(e.Ifindex)}, e.Ifindex, p.bytes(n.t), want)
}

// fromUp runs enet_from_up on p as it arrives on the uplink.
func (n *node) fromUp(p pkt, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetFromUp, SkBuff{IngressIfindex: uplinkIdx}, uplinkIdx, p.bytes(n.t), want)
}

// toUp runs enet_to_up on p as the node sends it out of the uplink.
func (n *node) toUp(p pkt, want verdict) Result {
	n.t.Helper()
	return n.step(n.EnetToUp, SkBuff{Ifindex: uplinkIdx}, uplinkIdx, p.bytes(n.t), want)
}

// step runs prog once and checks the verdict.
func (n *node) step(prog *ebpf.Program, skb SkBuff, ifindex int, pkt []byte, want verdict) Result {
	n.t.Helper()
	before := n.counter(ifindex, want.reason)
	r := n.RunSkb(prog, skb, pkt)
	if r.Ret != want.ret {
		n.t.Errorf("return code %d, want %d", r.Ret, want.ret)
	}
	got := n.counter(ifindex, want.reason)
	if got.Packets != before.Packets+1 || got.Bytes != before.Bytes+uint64(len(pkt)) {
		n.t.Errorf("%s on %d counts %d packets, %d bytes; want %d, %d", maps.ReasonName(want.reason), ifindex,
			got.Packets, got.Bytes, before.Packets+1, before.Bytes+uint64(len(pkt)))
	}
	wantEv := fmt.Sprintf("%s on %d to %d", maps.ReasonName(want.reason), ifindex, want.target)
	if len(r.Events) != 1 {
		n.t.Fatalf("%d events, want one: %s", len(r.Events), wantEv)
	}
	ev := r.Events[0]
	if gotEv := fmt.Sprintf("%s on %d to %d", maps.ReasonName(ev.Reason), ev.Ifindex, ev.Target); gotEv != wantEv {
		n.t.Errorf("event %s, want %s", gotEv, wantEv)
	}
	return r
}

// counter is one enet_stats entry, zero when there is none.
func (n *node) counter(ifindex int, reason maps.Reason) maps.Counter {
	n.t.Helper()
	for _, c := range n.Counters() {
		if c.Ifindex == ifindex && c.Reason == reason {
			return c
		}
	}
	return maps.Counter{Ifindex: ifindex, Reason: reason}
}
