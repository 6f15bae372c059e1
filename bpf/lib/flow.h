/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A translated flow's entries. It has two enet_nat entries, one per
 * direction, keyed by the tuple a packet has when it arrives and holding
 * the tuple it must leave with, and one enet_ct entry; or the same three
 * in enet_nat_new and enet_ct_new while it is not assured. The reply
 * entry is written first and only if its key is free in both, which is
 * what makes a source port ours; a failure after it removes what was
 * written, so a flow never has one direction without the other. */
#ifndef ENET_FLOW_H
#define ENET_FLOW_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "event.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

/* Errors of flow_create. */
#define FLOW_TAKEN 1	/* the reply tuple belongs to another flow */
#define FLOW_FULL 2	/* a map refused the entry */

/* flow_delete_in removes a flow's entries from one pair of maps,
 * translations first, reply first. */
static __always_inline void flow_delete_in(void *nat, void *cts, const struct ct_key *key, const struct ct_key *reply)
{
	bpf_map_delete_elem(nat, reply);
	bpf_map_delete_elem(nat, key);
	bpf_map_delete_elem(cts, key);
}

/* flow_delete removes a flow's entries from the maps of its kind. */
static __always_inline void flow_delete(const struct ct_key *key, const struct ct_key *reply, int assured)
{
	if (assured)
		flow_delete_in(&enet_nat, &enet_ct, key, reply);
	else
		flow_delete_in(&enet_nat_new, &enet_ct_new, key, reply);
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

/* flow_reclaim frees a reply tuple that the translation map nat (enet_nat
 * with enet_ct, or the _new maps) holds for a flow that is dead (expired,
 * or its conntrack entry evicted), so a new flow can take its port now
 * rather than after the next GC; or for p's own flow, whose forward
 * translation a full map evicted, so the flow goes on with its port.
 * Returns 1 if the tuple is free. */
static __always_inline int flow_reclaim(void *nat, void *cts, const struct ct_key *reply, const struct pkt *p,
					__u32 ifindex, __u64 now)
{
	struct nat_entry *e = bpf_map_lookup_elem(nat, reply);
	struct ct_key flow;

	if (!e)
		return 1;
	if (ct_live(cts, &e->flow, now)) {
		if (!tuple_eq(&e->flow, &p->tuple))
			return 0;
		flow_evicted(ifindex, p->len);
	}
	flow = e->flow;
	flow_delete_in(nat, cts, &flow, reply);
	return 1;
}

/* flow_claim makes a reply tuple a new flow's: its entry goes into
 * enet_nat_new only if that holds none, and enet_nat is looked at after,
 * so a flow that flow_move assured meanwhile (it writes enet_nat before
 * it deletes from enet_nat_new) is seen. Returns 0 or FLOW_TAKEN. */
static __always_inline int flow_claim(const struct ct_key *reply, const struct nat_entry *rev, const struct pkt *p,
				      __u32 ifindex, __u64 now)
{
	if (bpf_map_update_elem(&enet_nat_new, reply, rev, BPF_NOEXIST) < 0 &&
	    (!flow_reclaim(&enet_nat_new, &enet_ct_new, reply, p, ifindex, now) ||
	     bpf_map_update_elem(&enet_nat_new, reply, rev, BPF_NOEXIST) < 0))
		return FLOW_TAKEN;
	if (!flow_reclaim(&enet_nat, &enet_ct, reply, p, ifindex, now)) {
		bpf_map_delete_elem(&enet_nat_new, reply);
		return FLOW_TAKEN;
	}
	return 0;
}

/* flow_create records a flow whose packets, first seen as p->tuple, leave
 * as *to. A new flow is not assured: it goes into the _new maps. Returns
 * 0, FLOW_TAKEN or FLOW_FULL. */
static __noinline int flow_create(const struct pkt *p, const struct ct_key *to, __u32 ifindex,
				  __u32 ct_flags, __u32 nat_flags)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct flow_scratch *s;
	struct ct_key reply;
	__u32 zero = 0;
	int err;

	s = bpf_map_lookup_elem(&enet_scratch, &zero);
	if (!cfg || !s)
		return FLOW_FULL;
	tuple_reverse(&reply, to);
	tuple_reverse(&s->rev.to, &p->tuple);
	s->rev.created_ns = now;
	s->rev.flow = p->tuple;
	s->rev.flags = nat_flags | NAT_F_REPLY;
	s->rev.pad = 0;
	err = flow_claim(&reply, &s->rev, p, ifindex, now);
	if (err)
		return err;
	s->fwd.created_ns = now;
	s->fwd.to = *to;
	s->fwd.flow = p->tuple;
	s->fwd.flags = nat_flags;
	s->fwd.pad = 0;
	ct_init(&s->ct, cfg, p, &reply, ifindex, ct_flags, now);
	if (bpf_map_update_elem(&enet_nat_new, &p->tuple, &s->fwd, BPF_ANY) < 0 ||
	    bpf_map_update_elem(&enet_ct_new, &p->tuple, &s->ct, BPF_ANY) < 0) {
		flow_delete(&p->tuple, &reply, 0);
		return FLOW_FULL;
	}
	event_flow(cfg, &p->tuple, to, ifindex, ct_flags, now);
	return 0;
}

/* flow_move_maps moves a flow's three entries from one pair of maps to
 * the other, written to their new place before they leave the old, so a
 * packet finds them throughout (enet_nat is looked up first). The
 * conntrack entry's CT_F_ASSURED says where it is. */
static __always_inline int flow_move_maps(const struct ct_key *flow, void *from_nat, void *from_ct, void *to_nat,
					  void *to_ct, __u32 assured)
{
	struct ct_key key = *flow, reply;
	struct nat_entry *fwd, *rev;
	struct ct_entry *ct;

	ct = bpf_map_lookup_elem(from_ct, &key);
	if (!ct)
		return 0;
	reply = ct->reply;
	fwd = bpf_map_lookup_elem(from_nat, &key);
	rev = bpf_map_lookup_elem(from_nat, &reply);
	if (!fwd || !rev || fwd->created_ns != ct->created_ns || rev->created_ns != ct->created_ns)
		return 0;
	ct->flags = (ct->flags & ~CT_F_ASSURED) | assured;
	if (bpf_map_update_elem(to_ct, &key, ct, BPF_ANY) < 0)
		goto undo;
	if (bpf_map_update_elem(to_nat, &reply, rev, BPF_NOEXIST) < 0)
		goto undo_ct;
	if (bpf_map_update_elem(to_nat, &key, fwd, BPF_ANY) < 0)
		goto undo_rev;
	flow_delete_in(from_nat, from_ct, &key, &reply);
	return 1;
undo_rev:
	bpf_map_delete_elem(to_nat, &reply);
undo_ct:
	bpf_map_delete_elem(to_ct, &key);
undo:
	ct->flags ^= CT_F_ASSURED;
	return 0;
}

/* flow_move puts a flow that has become assured into enet_ct and enet_nat,
 * where only assured flows compete for room, or one that is no more
 * (a TCP connection closed both ways) back into the _new maps. */
static __noinline int flow_move(const struct ct_key *flow, int assure)
{
	if (assure)
		return flow_move_maps(flow, &enet_nat_new, &enet_ct_new, &enet_nat, &enet_ct, CT_F_ASSURED);
	return flow_move_maps(flow, &enet_nat, &enet_ct, &enet_nat_new, &enet_ct_new, 0);
}

/* flow_update accounts p to its flow, as nat_find found it, and keeps the
 * flow in the maps its state belongs in. A RST before any reply ends the
 * flow at once; one outside the window is counted on ifindex and
 * changes nothing. e and ct may be gone after. */
static __noinline void flow_update(const struct nat_entry *e, struct ct_entry *ct, const struct pkt *p, __u64 now,
				    __u32 ifindex)
{
	const struct config *cfg = config_get();
	int assured = !!(ct->flags & CT_F_ASSURED);
	struct ct_key key, reply;

	if (!cfg)
		return;
	switch (ct_update(ct, cfg, p, e->flags & NAT_F_REPLY, now)) {
	case CT_IGNORED:
		if (p->tcp_flags & TCP_F_RST)
			verdict_count(ifindex, REASON_TCP_RST_IGNORED, p->len);
		return;
	case CT_KILL:
		key = e->flow;
		reply = ct->reply;
		flow_delete(&key, &reply, assured);
		return;
	}
	if (ct_assured(ct, p->tuple.proto, now) != assured)
		flow_move(&e->flow, !assured);
}

#endif
