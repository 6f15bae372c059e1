/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port translation: finding a packet's translation, choosing
 * the source port of a new one, and rewriting the packet with every
 * checksum kept right. The entries themselves are flow.h's. */
#ifndef ENET_NAT_H
#define ENET_NAT_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "flow.h"
#include "ipv4.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

#define NAT_PORT_TRIES 32

/* nat_find_in looks p up in one pair of maps (enet_nat with enet_ct, or
 * the _new maps). An entry whose flow expired or lost its conntrack entry
 * is removed, so a new flow can take its tuple. */
static __always_inline struct nat_entry *nat_find_in(void *nat, void *cts, const struct pkt *p, struct ct_entry **ctp,
						     __u64 now, __u32 ifindex)
{
	struct nat_entry *e = bpf_map_lookup_elem(nat, &p->tuple);
	struct ct_entry *ct;
	struct ct_key flow, reply;

	if (!e)
		return NULL;
	ct = bpf_map_lookup_elem(cts, &e->flow);
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
	flow_delete_in(nat, cts, &flow, &reply);
	return NULL;
}

/* nat_find returns the translation for p, seen on ifindex, with its flow's
 * live conntrack entry in *ctp: an assured flow's, else one of the
 * others'. */
static __always_inline struct nat_entry *nat_find(const struct pkt *p, struct ct_entry **ctp, __u64 now, __u32 ifindex)
{
	struct nat_entry *e = nat_find_in(&enet_nat, &enet_ct, p, ctp, now, ifindex);

	return e ? e : nat_find_in(&enet_nat_new, &enet_ct_new, p, ctp, now, ifindex);
}

/* nat_create records a flow whose packets leave as *to, taking the
 * packet's own source port if that is free, else a random one in the
 * configured range. *to comes in with the addresses and destination port
 * set and leaves with the source port chosen. Returns 0 or a drop reason. */
static __always_inline int nat_create(const struct pkt *p, struct ct_key *to, __u32 ifindex, __u32 ct_flags, __u32 nat_flags)
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
static __always_inline int nat_csum(__u8 proto, __u32 l4_off, __u32 *off, __u64 *flags)
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

static __always_inline int nat_rewrite_addr(struct __sk_buff *skb, __u32 addr_off, __be32 from, __be32 to,
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

static __always_inline int nat_rewrite_port(struct __sk_buff *skb, __u32 port_off, __u16 from, __u16 to,
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
static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct pkt *p, const struct ct_key *to)
{
	const struct ct_key *from = &p->tuple;
	__u64 csum_flags;
	__u32 csum_off;

	if (!nat_csum(from->proto, p->l4_off, &csum_off, &csum_flags))
		return -1;
	if (nat_rewrite_addr(skb, IP_SADDR_OFF, ipv4_load(from->saddr), ipv4_load(to->saddr), csum_off, csum_flags) < 0 ||
	    nat_rewrite_addr(skb, IP_DADDR_OFF, ipv4_load(from->daddr), ipv4_load(to->daddr), csum_off, csum_flags) < 0)
		return -1;
	if (from->proto == IPPROTO_ICMP) {
		/* The echo identifier is sport in a request, dport in a reply. */
		if (nat_rewrite_port(skb, p->l4_off + 4, from->sport, to->sport, csum_off, 0) < 0 ||
		    nat_rewrite_port(skb, p->l4_off + 4, from->dport, to->dport, csum_off, 0) < 0)
			return -1;
		return 0;
	}
	if (nat_rewrite_port(skb, p->l4_off, from->sport, to->sport, csum_off, csum_flags) < 0 ||
	    nat_rewrite_port(skb, p->l4_off + 2, from->dport, to->dport, csum_off, csum_flags) < 0)
		return -1;
	return 0;
}

#endif
