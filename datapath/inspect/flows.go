package inspect

import (
	"context"
	"slices"
	"strings"

	"github.com/ebpfnet/ebpfnet/datapath/api"
	"github.com/ebpfnet/ebpfnet/maps"
)

// BPFCT lists the live flows of enet_ct.
func (in *Inspector) BPFCT(context.Context) ([]api.BPFFlow, error) {
	nm, err := in.names()
	if err != nil {
		return nil, err
	}
	flows, err := in.maps.CT.All()
	if err != nil {
		return nil, err
	}
	now := maps.MonotonicNs()
	out := []api.BPFFlow{}
	for _, f := range flows {
		if f.ExpiresNs < now {
			continue // dead already; the GC has not come by yet
		}
		out = append(out, api.BPFFlow{
			Proto: maps.ProtoName(f.Tuple.Proto), Src: f.Tuple.Src.String(), Dst: f.Tuple.Dst.String(),
			ReplySrc: f.Reply.Src.String(), ReplyDst: f.Reply.Dst.String(),
			State: f.StateName(), Flags: f.FlagNames(), Endpoint: nm.owners[f.Ifindex],
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
func (in *Inspector) BPFNAT(context.Context) ([]api.BPFNAT, error) {
	entries, err := in.maps.NAT.All()
	if err != nil {
		return nil, err
	}
	flows, err := in.maps.CT.All()
	if err != nil {
		return nil, err
	}
	now := maps.MonotonicNs()
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
			Proto: maps.ProtoName(e.Tuple.Proto), FromSrc: e.Tuple.Src.String(), FromDst: e.Tuple.Dst.String(),
			ToSrc: e.To.Src.String(), ToDst: e.To.Dst.String(), Direction: dir, Host: e.Host,
			State: f.StateName(), TTLSeconds: seconds(int64(f.ExpiresNs - now)), Packets: packets, Bytes: bytes,
		})
	}
	slices.SortFunc(out, func(a, b api.BPFNAT) int { return strings.Compare(a.FromSrc+a.FromDst, b.FromSrc+b.FromDst) })
	return out, nil
}
