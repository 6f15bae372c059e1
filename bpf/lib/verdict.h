/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Verdict accounting: a per-CPU counter per (interface, reason), and a
 * trace event when the daemon asked for them. */
#ifndef ENET_VERDICT_H
#define ENET_VERDICT_H

#include "common.h"
#include "config.h"
#include "event.h"
#include "maps.h"

static __always_inline void verdict_count(__u32 ifindex, __u32 reason, __u32 len)
{
	stats_count(ifindex, reason, len);
}

static __always_inline int verdict_trace_wanted(__u32 reason)
{
	struct config *cfg = config_get();

	if (!cfg)
		return 0;
	if (cfg->flags & CONFIG_F_TRACE)
		return 1;
	return (cfg->flags & CONFIG_F_TRACE_DROPS) && reason >= REASON_DROP_MALFORMED;
}

static __always_inline void verdict_emit(const struct event *t, __u32 reason, __u32 target)
{
	struct event *ev;

	if (!verdict_trace_wanted(reason))
		return;
	ev = bpf_ringbuf_reserve(&enet_events, sizeof(*ev), 0);
	if (!ev) {
		event_lost(t->ifindex);
		return;
	}
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
	verdict_count(t->ifindex, reason, t->len);
	verdict_emit(t, reason, target);
	return action;
}

static __always_inline int verdict_drop(const struct event *t, __u32 reason)
{
	return verdict(t, reason, 0, TC_ACT_SHOT);
}

#endif
