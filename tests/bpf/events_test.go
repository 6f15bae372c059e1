package bpftest

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

// decoded is an event as the monitor decodes it.
func decoded(t *testing.T, ev loader.EnetEvent) maps.Event {
	t.Helper()
	raw, err := binary.Append(nil, binary.NativeEndian, ev)
	if err != nil {
		t.Fatal(err)
	}
	e, err := maps.DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Issue 15: the events the monitor reads carry the tuple as it came and
// as translated, the program, and new flows, only when the daemon asks.
func TestEvents(t *testing.T) {
	w := newNodeWorld(t)
	withFlows := func(n *node) {
		c := nodeConfig()
		c.Flags |= loader.EnetConfigFlagCONFIG_F_FLOWS
		n.SetConfig(c)
	}
	t.Run("a masqueraded packet: its verdict, translated, and its new flow", func(t *testing.T) {
		n := w.node(t)
		withFlows(n)
		p := out(m1, remote).udp(40000, 53)
		r := n.RunSkb(n.EnetFromEp, SkBuff{IngressIfindex: uint32(m1.Ifindex)}, p.bytes(t))
		if len(r.Events) != 2 {
			t.Fatalf("%d events, want the flow's and the verdict's", len(r.Events))
		}
		flow, v := decoded(t, r.Events[0]), decoded(t, r.Events[1])
		if flow.Kind != maps.EventFlow || !flow.Flow.Masquerade() || flow.Ifindex != m1.Ifindex ||
			flow.Src != netip.AddrPortFrom(m1.IP, 40000) || flow.Dst != netip.AddrPortFrom(remote, 53) ||
			flow.XSrc.Addr() != snatIP || flow.XDst != flow.Dst || !flow.Xlated {
			t.Errorf("flow event %+v", flow)
		}
		if v.Kind != maps.EventVerdict || v.Program != "enet_from_ep" || v.Reason != fwdSNAT ||
			v.Src != flow.Src || v.Dst != flow.Dst || !v.Xlated || v.XSrc != flow.XSrc || v.XDst != flow.XDst {
			t.Errorf("verdict event %+v, want the flow's tuples", v)
		}
	})
	t.Run("a published port's packet from outside", func(t *testing.T) {
		n := w.node(t)
		withFlows(n)
		n.publish()
		p := in(remote, snatIP).tcp(50000, 8080, tcpSYN)
		r := n.RunSkb(n.EnetFromUp, SkBuff{IngressIfindex: uplinkIdx}, p.bytes(t))
		if len(r.Events) != 2 {
			t.Fatalf("%d events, want the flow's and the verdict's", len(r.Events))
		}
		flow, v := decoded(t, r.Events[0]), decoded(t, r.Events[1])
		if !flow.Flow.Published() || flow.XDst != netip.AddrPortFrom(m1.IP, 80) || v.Program != "enet_from_up" ||
			v.Reason != fwdDNAT || v.XDst != flow.XDst || v.Dst != netip.AddrPortFrom(snatIP, 8080) {
			t.Errorf("flow %+v\nverdict %+v", flow, v)
		}
	})
	t.Run("no flow events unless asked for; no tuple without tracing", func(t *testing.T) {
		n := w.node(t)
		p := out(m1, remote).udp(40001, 53)
		r := n.RunSkb(n.EnetFromEp, SkBuff{IngressIfindex: uint32(m1.Ifindex)}, p.bytes(t))
		if len(r.Events) != 1 || decoded(t, r.Events[0]).Kind != maps.EventVerdict {
			t.Fatalf("events %+v, want the verdict alone", r.Events)
		}
		c := nodeConfig()
		c.Flags = 0
		n.SetConfig(c)
		p = out(m1, remote).udp(40002, 53)
		if r := n.RunSkb(n.EnetFromEp, SkBuff{IngressIfindex: uint32(m1.Ifindex)}, p.bytes(t)); len(r.Events) != 0 {
			t.Fatalf("events with tracing off: %+v", r.Events)
		}
	})
}

// Issue 15: a node socket sent to a published port's endpoint is a
// socket event when the daemon asks for flows.
func TestSockEvents(t *testing.T) {
	base := Load(t)
	cgroup := clientCgroup(t, base)
	node := newSockNetns(t, []string{"10.10.0.2/32"}, []string{"10.10.0.2:80"}, nil)
	d := base.Reuse(t)
	d.PutEndpoint(m1)
	c := nodeConfig()
	c.NetnsCookie = node.cookie
	c.Flags |= loader.EnetConfigFlagCONFIG_F_FLOWS
	d.SetConfig(c)
	must(t, d.Maps.Ports.PutAll(publications))
	got := runClient(t, node.ns, cgroup, []sockOp{{"tcp", "127.0.0.1:8080"}})
	if len(got) != 1 || got[0].Err != "" {
		t.Fatalf("client: %+v", got)
	}
	evs, err := d.drainEvents()
	must(t, err)
	var socks []maps.Event
	for _, ev := range evs {
		if e := decoded(t, ev); e.Kind == maps.EventSock {
			socks = append(socks, e)
		}
	}
	if len(socks) != 1 || socks[0].Dst.String() != "127.0.0.1:8080" || socks[0].XDst.String() != "10.10.0.2:80" ||
		socks[0].Program != "enet_sock" || socks[0].DNS {
		t.Fatalf("socket events %+v, want one: 127.0.0.1:8080 sent to 10.10.0.2:80", socks)
	}
}
