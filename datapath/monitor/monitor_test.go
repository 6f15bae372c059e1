package monitor

import (
	"net/netip"
	"testing"

	"go.uber.org/zap"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/datapath/errdefs"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

type fakeMaps struct {
	bits maps.EventsBits
	lost uint64
}

func (f *fakeMaps) Events() (maps.EventsBits, error)  { return f.bits, nil }
func (f *fakeMaps) SetEvents(b maps.EventsBits) error { f.bits = b; return nil }
func (f *fakeMaps) EventsLost() (uint64, error)       { return f.lost, nil }

func names() (Names, error) {
	return Names{
		Ifaces: map[int]Owner{11: {Name: "enet-a", Endpoint: "a", Network: "web"}, 12: {Name: "enet-b", Endpoint: "b", Network: "web"}},
		Addrs: map[netip.Addr]Owner{netip.MustParseAddr("10.0.0.2"): {Endpoint: "a", Network: "web"},
			netip.MustParseAddr("10.0.0.3"): {Endpoint: "b", Network: "web"}},
	}, nil
}

func TestFilter(t *testing.T) {
	if _, err := FilterOf(api.MonitorFilter{Types: []string{"trace"}}); errdefs.KindOf(err) != errdefs.KindInvalid {
		t.Fatalf("type trace: %v", err)
	}
	drop := api.MonitorEvent{Type: TypeDrop, Endpoint: "a", Network: "web", Proto: "tcp", Src: "10.0.0.2:1000", Dst: "1.2.3.4:80"}
	flow := api.MonitorEvent{Type: TypeFlow, Endpoint: "b", Network: "web", Proto: "udp", XDst: "10.0.0.3:53"}
	sock := api.MonitorEvent{Type: TypeSocket, Endpoint: "b", Proto: "tcp", Dst: "127.0.0.1:8080"}
	for _, c := range []struct {
		f    Filter
		ev   api.MonitorEvent
		want bool
	}{
		{Filter{}, drop, true},
		{Filter{Types: []string{TypeVerdict}}, drop, true},
		{Filter{Types: []string{TypeDrop}}, flow, false},
		{Filter{Types: []string{TypeFlow}}, sock, true},
		{Filter{Types: []string{TypeFlow}}, api.MonitorEvent{Type: TypeFlowEnd}, true},
		{Filter{Types: []string{TypeDrop}}, api.MonitorEvent{Type: TypeLost}, true},
		{Filter{Endpoint: "a"}, drop, true},
		{Filter{Endpoint: "a"}, flow, false},
		{Filter{Endpoint: "a"}, api.MonitorEvent{Type: TypeVerdict, Endpoint: "b", Peer: "a"}, true},
		{Filter{Network: "web"}, sock, false},
		{Filter{Proto: "udp"}, flow, true},
		{Filter{Port: 80}, drop, true},
		{Filter{Port: 53}, flow, true},
		{Filter{Port: 8}, drop, false},
	} {
		if got := c.f.Match(c.ev); got != c.want {
			t.Errorf("%+v matches %+v: %v, want %v", c.f, c.ev, got, c.want)
		}
	}
}

// The bits the datapath gets are what `bpf trace` and the monitors want,
// together; the last monitor gone, `bpf trace`'s alone.
func TestHubBits(t *testing.T) {
	dp := &fakeMaps{bits: maps.EventsBits{Drops: true, Flows: true}}
	h := New(dp, nil, names, zap.NewNop())
	if err := h.Start(); err != nil || dp.bits != (maps.EventsBits{Drops: true}) {
		t.Fatalf("after Start: %+v %v; want bpf trace's drops, an earlier daemon's flows dropped", dp.bits, err)
	}
	flows, _ := h.Subscribe(Filter{Types: []string{TypeFlow}}, 4)
	if dp.bits != (maps.EventsBits{Drops: true, Flows: true}) {
		t.Fatalf("with a flow monitor: %+v", dp.bits)
	}
	all, _ := h.Subscribe(Filter{}, 4)
	if dp.bits != (maps.EventsBits{Verdicts: true, Drops: true, Flows: true}) {
		t.Fatalf("with a monitor of everything: %+v", dp.bits)
	}
	h.Unsubscribe(all)
	h.Unsubscribe(flows)
	if dp.bits != (maps.EventsBits{Drops: true}) {
		t.Fatalf("with no monitor: %+v", dp.bits)
	}
	if _, ok := <-all.Done(); ok {
		t.Fatal("an unsubscribed monitor is not done")
	}
}

// A monitor whose buffer is full loses events, counted; the others get
// them; and a monitor gets nothing from before it was attached.
func TestHubLost(t *testing.T) {
	h := New(&fakeMaps{}, nil, names, zap.NewNop())
	slow, _ := h.Subscribe(Filter{}, 1)
	fast, _ := h.Subscribe(Filter{}, 10)
	for range 5 {
		h.Publish(maps.MonotonicNs(), api.MonitorEvent{Type: TypeVerdict})
	}
	if reader, _ := slow.Lost(); reader != 4 || len(fast.Events()) != 5 {
		t.Fatalf("slow lost %d, fast got %d", reader, len(fast.Events()))
	}
	h.Publish(1, api.MonitorEvent{Type: TypeVerdict})
	if len(fast.Events()) != 5 {
		t.Fatal("an event from before the monitor was attached reached it")
	}
	h.kernelLost(7)
	if _, dp := fast.Lost(); dp != 7 {
		t.Fatalf("datapath lost %d, want 7", dp)
	}
}

func TestView(t *testing.T) {
	h := New(&fakeMaps{}, nil, names, zap.NewNop())
	ap := netip.MustParseAddrPort
	ev := h.view(maps.Event{Kind: maps.EventVerdict, Program: "enet_from_ep", Ifindex: 11, Target: 12,
		Reason: loader.EnetReasonREASON_FWD_PEER, Proto: 17, Src: ap("10.0.0.2:1000"), Dst: ap("10.0.0.3:53")})
	if ev.Type != TypeVerdict || ev.Verdict != "forward" || ev.Endpoint != "a" || ev.Peer != "b" || ev.Target != "enet-b" ||
		ev.Src != "10.0.0.2:1000" || ev.Reason != "forward-peer" || ev.Proto != "udp" {
		t.Errorf("forward-peer: %+v", ev)
	}
	ev = h.view(maps.Event{Kind: maps.EventFlow, Ifindex: 11, Proto: 6, Xlated: true, Src: ap("10.0.0.2:1000"),
		Dst: ap("1.2.3.4:80"), XSrc: ap("198.51.100.1:1000"), XDst: ap("1.2.3.4:80"),
		Flow: maps.Flow{Flags: loader.EnetCtFlagCT_F_SNAT}})
	if ev.Type != TypeFlow || ev.Translation != "masquerade" || ev.XSrc != "198.51.100.1:1000" || ev.Endpoint != "a" {
		t.Errorf("masquerade flow: %+v", ev)
	}
	ev = h.view(maps.Event{Kind: maps.EventSock, DNS: true, Proto: 17, Xlated: true, Dst: ap("127.0.0.11:53"),
		XDst: ap("10.0.0.1:10053")})
	if ev.Type != TypeSocket || ev.Translation != "dns" || ev.Src != "" {
		t.Errorf("dns rewrite: %+v", ev)
	}
	ev = h.view(maps.Event{Kind: maps.EventVerdict, Reason: loader.EnetReasonREASON_DROP_SPOOF_IP, Ifindex: 11, Proto: 47,
		Src: ap("10.0.0.9:0"), Dst: ap("10.0.0.3:0")})
	if ev.Type != TypeDrop || ev.Verdict != "drop" || ev.Src != "10.0.0.9" || ev.Peer != "b" {
		t.Errorf("a GRE drop: %+v", ev)
	}
}
