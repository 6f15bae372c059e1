/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict accounting: a per-CPU counter per (interface, reason), and a
 * trace event when the daemon asked for them. */
#ifndef ENET_STATS_H
#define ENET_STATS_H

#include "common.h"
#include "config.h"
#include "maps.h"

__inline void count(__u32 ifindex, __u32 reason, __u32 len)
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

__inline int trace_wanted(__u32 reason)
{
	struct config *cfg = config_get();

	if (!cfg)
		return 0;
	if (cfg->flags & CONFIG_F_TRACE)
		return 1;
	return (cfg->flags & CONFIG_F_TRACE_DROPS) && reason >= REASON_DROP_MALFORMED;
}

__inline void emit(const struct event *t, __u32 reason, __u32 target)
{
	struct event *ev;

	if (!trace_wanted(reason))
		return;
	ev = bpf_ringbuf_reserve(&enet_events, sizeof(*ev), 0);
	if (!ev)
		return;
	*ev = *t;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->target = target;
	ev->reason = reason;
	ev->build = build_id;
	bpf_ringbuf_submit(ev, 0);
}

/* verdict counts and traces the decision and returns the tc action. One
 * out-of-line copy keeps every call site small. */
static __noinline int verdict(const struct event *t, __u32 reason, __u32 target, int action)
{
	count(t->ifindex, reason, t->len);
	emit(t, reason, target);
	return action;
}

__inline int drop(const struct event *t, __u32 reason)
{
	return verdict(t, reason, 0, TC_ACT_SHOT);
}

#endif
