/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A translated flow's entries. It has two enet_nat entries, one per
 * direction, keyed by the tuple a packet has when it arrives and holding
 * the tuple it must leave with, and one enet_ct entry. The reply entry is
 * written first and only if its key is free, which is what makes a source
 * port ours; a failure after it removes what was written, so a flow never
 * has one direction without the other. */
#ifndef ENET_FLOW_H
#define ENET_FLOW_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

/* Errors of flow_create. */
#define FLOW_TAKEN 1	/* the reply tuple belongs to another flow */
#define FLOW_FULL 2	/* a map refused the entry */

static __always_inline void flow_delete(const struct ct_key *key, const struct ct_key *reply)
{
	bpf_map_delete_elem(&enet_nat, reply);
	bpf_map_delete_elem(&enet_nat, key);
	bpf_map_delete_elem(&enet_ct, key);
}

/* flow_evicted counts a packet, seen on ifindex, of a flow that lost an
 * entry to a full map (LRU). Only an eviction leaves a flow's reply
 * translation without the forward one, and, but for the instant in which
 * the userspace GC removes a flow expired a second ago (conntrack entry
 * first, maps/gc.go), its translations without its conntrack entry: the
 * datapath deletes the translations first, reply first. */
static __noinline int flow_evicted(__u32 ifindex, __u32 len)
{
	verdict_count(ifindex, REASON_FLOW_EVICTED, len);
	return 0;
}

/* flow_reclaim frees a reply tuple held by a flow that is dead (expired,
 * or its conntrack entry evicted), so a new flow can take its port now
 * rather than after the next GC; or held by p's own flow, whose forward
 * translation a full enet_nat evicted, so the flow goes on with its port.
 * Returns 1 if it freed it. */
static __always_inline int flow_reclaim(const struct ct_key *reply, const struct pkt *p, __u32 ifindex, __u64 now)
{
	struct nat_entry *e = bpf_map_lookup_elem(&enet_nat, reply);
	struct ct_key flow;

	if (!e)
		return 0;
	if (ct_lookup(&e->flow, now)) {
		if (!tuple_eq(&e->flow, &p->tuple))
			return 0;
		flow_evicted(ifindex, p->len);
		bpf_map_delete_elem(&enet_nat, reply);
		return 1;
	}
	flow = e->flow;
	flow_delete(&flow, reply);
	return 1;
}

/* flow_create records a flow whose packets, first seen as p->tuple, leave
 * as *to. Returns 0, FLOW_TAKEN or FLOW_FULL. */
static __noinline int flow_create(const struct pkt *p, const struct ct_key *to, __u32 ifindex,
				  __u32 ct_flags, __u32 nat_flags)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct flow_scratch *s;
	struct ct_key reply;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&enet_scratch, &zero);
	if (!cfg || !s)
		return FLOW_FULL;
	tuple_reverse(&reply, to);
	tuple_reverse(&s->rev.to, &p->tuple);
	s->rev.created_ns = now;
	s->rev.flow = p->tuple;
	s->rev.flags = nat_flags | NAT_F_REPLY;
	s->rev.pad = 0;
	if (bpf_map_update_elem(&enet_nat, &reply, &s->rev, BPF_NOEXIST) < 0 &&
	    (!flow_reclaim(&reply, p, ifindex, now) || bpf_map_update_elem(&enet_nat, &reply, &s->rev, BPF_NOEXIST) < 0))
		return FLOW_TAKEN;
	s->fwd.created_ns = now;
	s->fwd.to = *to;
	s->fwd.flow = p->tuple;
	s->fwd.flags = nat_flags;
	s->fwd.pad = 0;
	ct_init(&s->ct, cfg, p, &reply, ifindex, ct_flags, now);
	if (bpf_map_update_elem(&enet_nat, &p->tuple, &s->fwd, BPF_ANY) < 0 ||
	    bpf_map_update_elem(&enet_ct, &p->tuple, &s->ct, BPF_ANY) < 0) {
		flow_delete(&p->tuple, &reply);
		return FLOW_FULL;
	}
	return 0;
}

#endif
