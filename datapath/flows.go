package datapath

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/loader"
	"github.com/ebpfnet/ebpfnet/maps"
)

func protoName(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return strconv.Itoa(int(p))
}

func flagNames(f loader.EnetCtFlag) []string {
	names := []string{}
	for _, n := range []struct {
		bit  loader.EnetCtFlag
		name string
	}{
		{loader.EnetCtFlagCT_F_SEEN_REPLY, "seen-reply"},
		{loader.EnetCtFlagCT_F_HOST, "host"},
		{loader.EnetCtFlagCT_F_SNAT, "snat"},
		{loader.EnetCtFlagCT_F_DNAT, "dnat"},
		{loader.EnetCtFlagCT_F_ASSURED, "assured"},
	} {
		if f&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// stateName is a TCP flow's state, or whether a UDP or ICMP flow has seen
// a reply, as conntrack -L shows.
func stateName(f maps.Flow) string {
	if f.Tuple.Proto == 6 {
		return maps.CTStateName(f.State)
	}
	if f.Flags&loader.EnetCtFlagCT_F_SEEN_REPLY != 0 {
		return "replied"
	}
	return "unreplied"
}

func seconds(ns int64) float64 { return float64(ns/1e6) / 1e3 }

// BPFCT lists the live flows of enet_ct.
func (m *Manager) BPFCT(ctx context.Context) ([]api.BPFFlow, error) {
	nm, err := m.names()
	if err != nil {
		return nil, err
	}
	flows, err := m.maps.CT.All()
	if err != nil {
		return nil, err
	}
	now := monotonicNs()
	out := []api.BPFFlow{}
	for _, f := range flows {
		if f.ExpiresNs < now {
			continue // dead already; the GC has not come by yet
		}
		out = append(out, api.BPFFlow{
			Proto: protoName(f.Tuple.Proto), Src: f.Tuple.Src.String(), Dst: f.Tuple.Dst.String(),
			ReplySrc: f.Reply.Src.String(), ReplyDst: f.Reply.Dst.String(),
			State: stateName(f), Flags: flagNames(f.Flags), Endpoint: nm.owners[f.Ifindex],
			AgeSeconds: seconds(int64(now - f.CreatedNs)), TTLSeconds: seconds(int64(f.ExpiresNs - now)),
			PacketsOrig: f.PacketsOrig, BytesOrig: f.BytesOrig, PacketsReply: f.PacketsReply, BytesReply: f.BytesReply,
		})
	}
	slices.SortFunc(out, func(a, b api.BPFFlow) int { return strings.Compare(a.Src+a.Dst, b.Src+b.Dst) })
	return out, nil
}

// BPFNAT lists the live entries of enet_nat: those whose flow is live,
// as the datapath's lookups take them, each with its flow's state and time
// left and the counters of its direction, which are the packets it
// translated. An entry of a dead or vanished flow the GC has yet to remove
// is left out, as BPFCT leaves out dead flows.
func (m *Manager) BPFNAT(ctx context.Context) ([]api.BPFNAT, error) {
	entries, err := m.maps.NAT.All()
	if err != nil {
		return nil, err
	}
	flows, err := m.maps.CT.All()
	if err != nil {
		return nil, err
	}
	now := monotonicNs()
	live := map[maps.Tuple]maps.Flow{}
	for _, f := range flows {
		if f.ExpiresNs >= now {
			live[f.Tuple] = f
		}
	}
	out := []api.BPFNAT{}
	for _, e := range entries {
		f, ok := live[e.Flow]
		if !ok {
			continue
		}
		dir, packets, bytes := "original", f.PacketsOrig, f.BytesOrig
		if e.Reply {
			dir, packets, bytes = "reply", f.PacketsReply, f.BytesReply
		}
		out = append(out, api.BPFNAT{
			Proto: protoName(e.Tuple.Proto), FromSrc: e.Tuple.Src.String(), FromDst: e.Tuple.Dst.String(),
			ToSrc: e.To.Src.String(), ToDst: e.To.Dst.String(), Direction: dir, Host: e.Host,
			State: stateName(f), TTLSeconds: seconds(int64(f.ExpiresNs - now)), Packets: packets, Bytes: bytes,
		})
	}
	slices.SortFunc(out, func(a, b api.BPFNAT) int { return strings.Compare(a.FromSrc+a.FromDst, b.FromSrc+b.FromDst) })
	return out, nil
}
