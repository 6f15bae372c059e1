/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* enet_events: what the daemon's monitors read. Nothing is written unless
 * the daemon set a CONFIG_F_TRACE* or CONFIG_F_FLOWS bit; until then the
 * programs only test the bits (one array lookup) where an event would
 * need a field filled in. A record the ring has no room for is counted as
 * event-lost, never waited for. */
#ifndef ENET_EVENT_H
#define ENET_EVENT_H

#include "common.h"
#include "config.h"
#include "maps.h"

#define EVENTS_ANY (CONFIG_F_TRACE | CONFIG_F_TRACE_DROPS | CONFIG_F_FLOWS)

static __always_inline int events_wanted(__u32 bits)
{
	const struct config *cfg = config_get();

	return cfg && (cfg->flags & bits);
}

/* stats_count adds a packet of len bytes to a per-CPU counter of
 * enet_stats. */
static __always_inline void stats_count(__u32 ifindex, __u32 reason, __u32 len)
{
	struct stats_key key = { .ifindex = ifindex, .reason = reason };
	struct stats *st = bpf_map_lookup_elem(&enet_stats, &key);

	if (st) {
		st->packets++;
		st->bytes += len;
		return;
	}
	struct stats init = { .packets = 1, .bytes = len };
	/* A full map loses the count, never the packet. */
	bpf_map_update_elem(&enet_stats, &key, &init, BPF_NOEXIST);
}

static __always_inline void event_lost(__u32 ifindex)
{
	stats_count(ifindex, REASON_EVENT_LOST, 0);
}

/* event_tuple notes the packet's ports (and ICMP id), once it is parsed,
 * for the events it may yet cause. */
static __always_inline void event_tuple(struct event *t, const struct ct_key *k)
{
	t->wanted = events_wanted(EVENTS_ANY);
	if (!t->wanted)
		return;
	t->sport = k->sport;
	t->dport = k->dport;
}

/* event_xlate notes the tuple a translation gave the packet. */
static __always_inline void event_xlate(struct event *t, const struct ct_key *to)
{
	if (!t->wanted)
		return;
	__builtin_memcpy(t->xsaddr, to->saddr, 4);
	__builtin_memcpy(t->xdaddr, to->daddr, 4);
	t->xsport = to->sport;
	t->xdport = to->dport;
	t->flags |= EVENT_F_XLATED;
}

/* event_flow records a new flow: its tuple and the one it is translated
 * to, with its conntrack flags (masquerade, DNAT, the node's own). */
static __always_inline void event_flow(const struct config *cfg, const struct ct_key *k, const struct ct_key *to,
				       __u32 ifindex, __u32 ct_flags, __u64 now)
{
	struct event *ev;

	if (!(cfg->flags & CONFIG_F_FLOWS))
		return;
	ev = bpf_ringbuf_reserve(&enet_events, sizeof(*ev), 0);
	if (!ev) {
		event_lost(ifindex);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now;
	ev->ifindex = ifindex;
	ev->kind = EVENT_FLOW;
	ev->ethertype = 0x0800;
	ev->proto = k->proto;
	__builtin_memcpy(ev->saddr, k->saddr, 4);
	__builtin_memcpy(ev->daddr, k->daddr, 4);
	ev->sport = k->sport;
	ev->dport = k->dport;
	__builtin_memcpy(ev->xsaddr, to->saddr, 4);
	__builtin_memcpy(ev->xdaddr, to->daddr, 4);
	ev->xsport = to->sport;
	ev->xdport = to->dport;
	ev->flags = EVENT_F_XLATED;
	ev->ct_flags = ct_flags;
	ev->build = build_id;
	bpf_ringbuf_submit(ev, 0);
}

/* event_sock records a socket the socket programs sent elsewhere than it
 * was told: to a published port's endpoint, or (EVENT_F_DNS) to its
 * network's resolver. Ports come in host order. */
static __always_inline void event_sock(__u8 proto, __be32 from_addr, __u16 from_port, __be32 to_addr, __u16 to_port,
				       __u16 flags)
{
	struct event *ev;

	if (!events_wanted(CONFIG_F_FLOWS))
		return;
	ev = bpf_ringbuf_reserve(&enet_events, sizeof(*ev), 0);
	if (!ev) {
		event_lost(0);
		return;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->kind = EVENT_SOCK;
	ev->hook = HOOK_SOCK;
	ev->ethertype = 0x0800;
	ev->proto = proto;
	__builtin_memcpy(ev->daddr, &from_addr, 4);
	ev->dport = from_port;
	__builtin_memcpy(ev->xdaddr, &to_addr, 4);
	ev->xdport = to_port;
	ev->flags = EVENT_F_XLATED | flags;
	ev->build = build_id;
	bpf_ringbuf_submit(ev, 0);
}

#endif
