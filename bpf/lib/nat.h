/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port translation. A translated flow has two enet_nat
 * entries, one per direction, keyed by the tuple a packet has when it
 * arrives and holding the tuple it must leave with, and one enet_ct entry.
 * The reply entry is written first and only if its key is free, which is
 * what makes a source port ours; a failure after it removes what was
 * written, so a flow never has one direction without the other. */
#ifndef ENET_NAT_H
#define ENET_NAT_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "l4.h"
#include "maps.h"
#include "stats.h"

#define NAT_PORT_TRIES 32

/* Errors of flow_create. */
#define FLOW_TAKEN 1	/* the reply tuple belongs to another flow */
#define FLOW_FULL 2	/* a map refused the entry */

__inline void flow_delete(const struct ct_key *key, const struct ct_key *reply)
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
	count(ifindex, REASON_FLOW_EVICTED, len);
	return 0;
}

/* flow_reclaim frees a reply tuple held by a flow that is dead (expired,
 * or its conntrack entry evicted), so a new flow can take its port now
 * rather than after the next GC; or held by p's own flow, whose forward
 * translation a full enet_nat evicted, so the flow goes on with its port.
 * Returns 1 if it freed it. */
__inline int flow_reclaim(const struct ct_key *reply, const struct pkt *p, __u32 ifindex, __u64 now)
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

/* nat_find returns the translation for p, seen on ifindex, with its flow's
 * live conntrack entry in *ctp. An entry whose flow expired or lost its
 * conntrack entry is removed, so a new flow can take its tuple. */
__inline struct nat_entry *nat_find(const struct pkt *p, struct ct_entry **ctp, __u64 now, __u32 ifindex)
{
	struct nat_entry *e = bpf_map_lookup_elem(&enet_nat, &p->tuple);
	struct ct_entry *ct;
	struct ct_key flow, reply;

	if (!e)
		return NULL;
	ct = bpf_map_lookup_elem(&enet_ct, &e->flow);
	if (ct && ct->expires_ns >= now) {
		*ctp = ct;
		return e;
	}
	if (!ct)
		flow_evicted(ifindex, p->len);
	flow = e->flow;
	/* The reverse entry's key: the tuple looked up, or the reverse of
	 * where the forward entry sends. */
	if (e->flags & NAT_F_REPLY)
		reply = p->tuple;
	else
		tuple_reverse(&reply, &e->to);
	flow_delete(&flow, &reply);
	return NULL;
}

/* nat_create records a flow whose packets leave as *to, taking the
 * packet's own source port if that is free, else a random one in the
 * configured range. *to comes in with the addresses and destination port
 * set and leaves with the source port chosen. Returns 0 or a drop reason. */
__inline int nat_create(const struct pkt *p, struct ct_key *to, __u32 ifindex, __u32 ct_flags, __u32 nat_flags)
{
	const struct config *cfg = config_get();
	__u32 span;
	int i, err;

	if (!cfg)
		return REASON_DROP_CT_FULL;
	to->sport = p->tuple.sport;
	span = (__u32)cfg->port_max - cfg->port_min + 1;
	for (i = 0; i < NAT_PORT_TRIES; i++) {
		err = flow_create(p, to, ifindex, ct_flags, nat_flags);
		if (err == 0)
			return 0;
		if (err == FLOW_FULL)
			return REASON_DROP_CT_FULL;
		if (cfg->port_max < cfg->port_min)
			break;
		to->sport = cfg->port_min + bpf_get_prandom_u32() % span;
	}
	return REASON_DROP_NAT_EXHAUSTED;
}

/* l4_csum_off is where the L4 checksum is, and csum_flags how an address
 * change touches it (TCP and UDP sum a pseudo header; ICMP does not). */
__inline int l4_csum(__u8 proto, __u32 l4_off, __u32 *off, __u64 *flags)
{
	switch (proto) {
	case IPPROTO_TCP:
		*off = l4_off + 16;
		*flags = BPF_F_PSEUDO_HDR;
		return 1;
	case IPPROTO_UDP:
		*off = l4_off + 6;
		*flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
		return 1;
	case IPPROTO_ICMP:
		*off = l4_off + 2;
		*flags = 0;
		return 1;
	}
	return 0;
}

__inline int rewrite_addr(struct __sk_buff *skb, __u32 addr_off, __be32 from, __be32 to,
			  __u32 csum_off, __u64 csum_flags)
{
	if (from == to)
		return 0;
	if (csum_flags & BPF_F_PSEUDO_HDR)
		if (bpf_l4_csum_replace(skb, csum_off, from, to, csum_flags | sizeof(to)) < 0)
			return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, addr_off, &to, sizeof(to), 0);
}

__inline int rewrite_port(struct __sk_buff *skb, __u32 port_off, __u16 from, __u16 to,
			  __u32 csum_off, __u64 csum_flags)
{
	__be16 f = bpf_htons(from), t = bpf_htons(to);

	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, f, t, (csum_flags & BPF_F_MARK_MANGLED_0) | sizeof(t)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, port_off, &t, sizeof(t), 0);
}

/* nat_rewrite makes the packet's tuple *to: addresses, ports or the ICMP
 * echo identifier, with every checksum kept right (CHECKSUM_PARTIAL
 * included: the helpers know). */
__inline int nat_rewrite(struct __sk_buff *skb, const struct pkt *p, const struct ct_key *to)
{
	const struct ct_key *from = &p->tuple;
	__u64 csum_flags;
	__u32 csum_off;

	if (!l4_csum(from->proto, p->l4_off, &csum_off, &csum_flags))
		return -1;
	if (rewrite_addr(skb, IP_SADDR_OFF, v4_load(from->saddr), v4_load(to->saddr), csum_off, csum_flags) < 0 ||
	    rewrite_addr(skb, IP_DADDR_OFF, v4_load(from->daddr), v4_load(to->daddr), csum_off, csum_flags) < 0)
		return -1;
	if (from->proto == IPPROTO_ICMP) {
		/* The echo identifier is sport in a request, dport in a reply. */
		if (rewrite_port(skb, p->l4_off + 4, from->sport, to->sport, csum_off, 0) < 0 ||
		    rewrite_port(skb, p->l4_off + 4, from->dport, to->dport, csum_off, 0) < 0)
			return -1;
		return 0;
	}
	if (rewrite_port(skb, p->l4_off, from->sport, to->sport, csum_off, csum_flags) < 0 ||
	    rewrite_port(skb, p->l4_off + 2, from->dport, to->dport, csum_off, csum_flags) < 0)
		return -1;
	return 0;
}

#endif
