package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Event kinds, hooks and flags of enet_events records (enum event_kind,
// event_hook and event_flag in bpf/lib/common.h; no field has their type,
// so bpf2go cannot generate them).
const (
	EventVerdict = 0 // a program's decision on a packet
	EventFlow    = 1 // a new flow and its translation
	EventSock    = 2 // a socket sent elsewhere than it was told

	eventXlated = 1 << 0
	eventDNS    = 1 << 1
)

var hookNames = []string{"", "enet_from_ep", "enet_to_br", "enet_from_up", "enet_to_up", "enet_from_dfrg", "enet_sock"}

// Event is an enet_events record, decoded.
type Event struct {
	MonotonicNs uint64 // bpf_ktime_get_ns: CLOCK_MONOTONIC
	Kind        int
	Program     string // the program that wrote it
	Ifindex     int    // where it ran; a flow's endpoint veth; 0: none
	Target      int    // where it redirected the packet; 0: none
	Reason      Reason // EventVerdict
	Len         int
	Proto       uint8
	Src, Dst    netip.AddrPort // as it came
	// XSrc and XDst are the tuple as translated, when Xlated.
	XSrc, XDst netip.AddrPort
	Xlated     bool
	DNS        bool // EventSock: to the network's resolver
	Flow       Flow // EventFlow: its conntrack flags
	Build      uint32
}

// EventSize is the size of an enet_events record.
const EventSize = 64

// DecodeEvent reads an enet_events record.
func DecodeEvent(raw []byte) (Event, error) {
	var e loader.EnetEvent
	if len(raw) < binary.Size(e) {
		return Event{}, fmt.Errorf("enet_events record of %d bytes, want %d", len(raw), binary.Size(e))
	}
	if err := binary.Read(bytes.NewReader(raw), binary.NativeEndian, &e); err != nil {
		return Event{}, fmt.Errorf("decode enet_events record: %w", err)
	}
	ev := Event{
		MonotonicNs: e.TsNs, Kind: int(e.Kind), Ifindex: int(e.Ifindex), Target: int(e.Target), Reason: e.Reason,
		Len: int(e.Len), Proto: e.Proto, Xlated: e.Flags&eventXlated != 0, DNS: e.Flags&eventDNS != 0,
		Flow: Flow{Flags: loader.EnetCtFlag(e.CtFlags)}, Build: e.Build,
		Src: addrPort(e.Saddr, e.Sport), Dst: addrPort(e.Daddr, e.Dport),
		XSrc: addrPort(e.Xsaddr, e.Xsport), XDst: addrPort(e.Xdaddr, e.Xdport),
	}
	if int(e.Hook) < len(hookNames) {
		ev.Program = hookNames[e.Hook]
	}
	return ev, nil
}

// addrPort is an address and a port (in host order, as struct ct_key).
func addrPort(a [4]byte, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4(a), port)
}

// EventsBits are enet_config's bits for enet_events: every verdict, the
// drops, and new flows with socket rewrites.
type EventsBits struct{ Verdicts, Drops, Flows bool }

// Events is what the programs write to enet_events now.
func (m Config) Events() (EventsBits, error) {
	c, err := m.Get()
	return EventsBits{Verdicts: c.Flags&loader.EnetConfigFlagCONFIG_F_TRACE != 0,
		Drops: c.Flags&loader.EnetConfigFlagCONFIG_F_TRACE_DROPS != 0,
		Flows: c.Flags&loader.EnetConfigFlagCONFIG_F_FLOWS != 0}, err
}

// SetEvents sets what the programs write to enet_events.
func (m Config) SetEvents(b EventsBits) error {
	c, err := m.Get()
	if err != nil {
		return err
	}
	flows := loader.EnetConfigFlagCONFIG_F_FLOWS
	all := loader.EnetConfigFlagCONFIG_F_TRACE | loader.EnetConfigFlagCONFIG_F_TRACE_DROPS | flows
	c.Flags &^= all
	if b.Verdicts {
		c.Flags |= loader.EnetConfigFlagCONFIG_F_TRACE
	}
	if b.Drops {
		c.Flags |= loader.EnetConfigFlagCONFIG_F_TRACE_DROPS
	}
	if b.Flows {
		c.Flags |= flows
	}
	return m.Set(c)
}
