package maps

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/ebpfnet/ebpfnet/loader"
)

// Reason is why the datapath did what it did with a packet (enum reason in
// bpf/lib/common.h).
type Reason = loader.EnetReason

var reasonNames = map[Reason]string{
	loader.EnetReasonREASON_FWD_PEER:             "forward-peer",
	loader.EnetReasonREASON_TO_BRIDGE:            "to-bridge",
	loader.EnetReasonREASON_DROP_MALFORMED:       "drop-malformed",
	loader.EnetReasonREASON_DROP_NO_IFACE:        "drop-unknown-interface",
	loader.EnetReasonREASON_DROP_SPOOF_MAC:       "drop-spoofed-mac",
	loader.EnetReasonREASON_DROP_SPOOF_IP:        "drop-spoofed-ip",
	loader.EnetReasonREASON_DROP_ISOLATION:       "drop-isolation",
	loader.EnetReasonREASON_DROP_ICC:             "drop-icc",
	loader.EnetReasonREASON_DROP_PROTO:           "drop-unsupported-protocol",
	loader.EnetReasonREASON_FWD_SNAT:             "forward-masquerade",
	loader.EnetReasonREASON_FWD_ROUTED:           "forward-routed",
	loader.EnetReasonREASON_FWD_REPLY:            "forward-reply",
	loader.EnetReasonREASON_TO_HOST:              "to-host",
	loader.EnetReasonREASON_HOST_FLOW:            "host-flow",
	loader.EnetReasonREASON_FWD_DNAT:             "forward-published",
	loader.EnetReasonREASON_FWD_HAIRPIN:          "forward-hairpin",
	loader.EnetReasonREASON_FLOW_EVICTED:         "flow-evicted",
	loader.EnetReasonREASON_FRAG_REQUEUE:         "fragment-requeued",
	loader.EnetReasonREASON_TO_BRIDGE_UNRESOLVED: "to-bridge-unresolved",
	loader.EnetReasonREASON_FWD_ICMP_ERROR:       "forward-icmp-error",
	loader.EnetReasonREASON_TCP_RST_IGNORED:      "tcp-rst-out-of-window",
	loader.EnetReasonREASON_FRAG_DETOUR:          "fragment-detoured",
	loader.EnetReasonREASON_FRAG_REASSEMBLED:     "fragment-reassembled",
	loader.EnetReasonREASON_DNS_ANSWERED:         "dns-answered",
	loader.EnetReasonREASON_EVENT_LOST:           "event-lost",

	loader.EnetReasonREASON_DROP_INTERNAL:      "drop-internal",
	loader.EnetReasonREASON_DROP_NAT_EXHAUSTED: "drop-nat-ports-exhausted",
	loader.EnetReasonREASON_DROP_NAT_PROTO:     "drop-nat-unsupported",
	loader.EnetReasonREASON_DROP_FRAGMENT:      "drop-fragment",
	loader.EnetReasonREASON_DROP_NO_ROUTE:      "drop-no-route",
	loader.EnetReasonREASON_DROP_DIRECT:        "drop-direct-access",
	loader.EnetReasonREASON_DROP_CT_FULL:       "drop-ct-full",
	loader.EnetReasonREASON_DROP_NO_FLOW:       "drop-icmp-no-flow",
	loader.EnetReasonREASON_DROP_TOO_BIG:       "drop-too-big",
	loader.EnetReasonREASON_DROP_NAT_CLASH:     "drop-nat-clash",
	loader.EnetReasonREASON_DROP_ENDPOINT_GONE: "drop-endpoint-gone",
	loader.EnetReasonREASON_DROP_UNTRANSLATED:  "drop-untranslated",
	loader.EnetReasonREASON_DROP_TCP_NO_FLOW:   "drop-tcp-no-flow",
	loader.EnetReasonREASON_DROP_PREFILTER:     "drop-prefilter",
	loader.EnetReasonREASON_DROP_SPOOF_OUTSIDE: "drop-spoofed-outside",
	loader.EnetReasonREASON_DROP_XDP_MALFORMED: "drop-malformed-xdp",
}

// ReasonName is the name `ebpfnet bpf stats` shows for a reason.
func ReasonName(r Reason) string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return fmt.Sprintf("reason-%d", r)
}

// IsDrop tells a drop reason from a forwarding one.
func IsDrop(r Reason) bool {
	return r >= loader.EnetReasonREASON_DROP_MALFORMED
}

// IsEvicted tells the count of packets whose flow lost an entry to a full
// map, which is no verdict.
func IsEvicted(r Reason) bool { return r == loader.EnetReasonREASON_FLOW_EVICTED }

// Counter is one enet_stats entry summed over CPUs.
type Counter struct {
	Ifindex int
	Reason  Reason
	Packets uint64
	Bytes   uint64
}

// Stats is enet_stats.
type Stats struct{ *ebpf.Map }

// All sums every entry over CPUs.
func (m Stats) All() ([]Counter, error) {
	var (
		k   loader.EnetStatsKey
		vs  []loader.EnetStats
		out []Counter
	)
	it := m.Iterate()
	for it.Next(&k, &vs) {
		c := Counter{Ifindex: int(k.Ifindex), Reason: k.Reason}
		for _, v := range vs {
			c.Packets += v.Packets
			c.Bytes += v.Bytes
		}
		out = append(out, c)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("iterate enet_stats: %w", err)
	}
	return out, nil
}

// DeleteIfindex drops the counters of an interface that is gone, so a reused
// ifindex starts from zero.
func (m Stats) DeleteIfindex(ifindex int) error {
	for r := range reasonNames {
		k := loader.EnetStatsKey{Ifindex: uint32(ifindex), Reason: r}
		if err := ignoreNotExist(m.Delete(&k)); err != nil {
			return fmt.Errorf("delete counters of %d: %w", ifindex, err)
		}
	}
	return nil
}
