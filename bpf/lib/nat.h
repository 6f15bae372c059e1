/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address and port translation: finding a packet's translation, choosing
 * the source port of a new one, and rewriting the packet with every
 * checksum kept right. The entries themselves are flow.h's. */
#ifndef ENET_NAT_H
#define ENET_NAT_H

#include "common.h"
#include "event.h"
#include "config.h"
#include "ct.h"
#include "flow.h"
#include "ipv4.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

/* Random ports tried before the range is walked in order. */
#define NAT_PORT_TRIES 32
/* Ports walked in order after them: the whole range, up to this many.
 * Near exhaustion a refused flow costs a lookup or two for each: 0.25 ms
 * for these under BPF_PROG_RUN, where walking all of 1024-65535 took 30 ms,
 * which an endpoint could make the node pay per packet. */
#define NAT_PORT_WALK 1024
/* Ports a new flow tries to take: its own, then ports found free, which
 * another CPU's new flow may take first. */
#define NAT_PORT_RACES 3

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

/* nat_port_fixed: a flow of this protocol keeps its source port (or ICMP
 * identifier): it has none, or a new one would need a checksum the
 * helpers cannot recompute (SCTP's CRC32c over the whole packet). */
static __always_inline int nat_port_fixed(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
	case IPPROTO_ICMP:
		return 0;
	}
	return 1;
}

/* A search for a free source port, as nat_probe sees it: the reply tuple
 * the flow would have, with its destination port (the flow's source port)
 * the one tried. */
struct nat_search {
	const struct pkt *p;
	struct ct_key reply;
	__u64 now;
	__u32 min;
	__u32 span;
	__u32 start;
	int port;		/* the free port found, or -1 */
};

/* nat_port_held: a live flow of another than p holds the reply tuple the
 * search tries, in one pair of maps (enet_nat with enet_ct, or the _new
 * maps). */
static __always_inline int nat_port_held(void *nat, void *cts, const struct nat_search *s)
{
	struct nat_entry *e = bpf_map_lookup_elem(nat, &s->reply);

	return e && ct_live(cts, &e->flow, s->now) && !tuple_eq(&e->flow, &s->p->tuple);
}

/* nat_probe is one step of the search, as bpf_loop runs it: a random port
 * for the first NAT_PORT_TRIES (cheap while the range is mostly free, and
 * they keep flows spread over it), then ports in turn from a random one,
 * all of a range of NAT_PORT_WALK or fewer, so that a flow is refused only
 * when none is free; of a larger one, when those are not. A port is free
 * when no flow's reply holds the tuple, or only a dead flow's or p's own,
 * as flow_reclaim decides. It is a lookup: a failed BPF_NOEXIST update of
 * the LRU map takes a free node first and may evict a live entry for it. */
static long nat_probe(__u32 i, void *ctx)
{
	struct nat_search *s = ctx;
	__u32 off;

	if (i < NAT_PORT_TRIES) {
		off = bpf_get_prandom_u32() % s->span;
	} else {
		off = s->start + i - NAT_PORT_TRIES;
		if (off >= s->span)
			off -= s->span;
	}
	s->reply.dport = s->min + off;
	if (nat_port_held(&enet_nat, &enet_ct, s) || nat_port_held(&enet_nat_new, &enet_ct_new, s))
		return 0;
	s->port = s->reply.dport;
	return 1;
}

/* nat_free_port finds a source port in the configured range for the flow
 * of p leaving as *to, or returns -1 when it finds none. Netfilter's search
 * (nf_nat_l4proto_unique_tuple) is bounded too, at 240 ports. */
static __noinline int nat_free_port(const struct pkt *p, const struct ct_key *to)
{
	const struct config *cfg = config_get();
	struct nat_search s;

	if (!cfg || cfg->port_max < cfg->port_min)
		return -1;
	s.p = p;
	tuple_reverse(&s.reply, to);
	s.now = bpf_ktime_get_ns();
	s.min = cfg->port_min;
	s.span = (__u32)cfg->port_max - cfg->port_min + 1;
	s.start = bpf_get_prandom_u32() % s.span;
	s.port = -1;
	bpf_loop(NAT_PORT_TRIES + (s.span < NAT_PORT_WALK ? s.span : NAT_PORT_WALK), nat_probe, &s, 0);
	return s.port;
}

/* nat_create records a flow whose packets leave as *to, taking the
 * packet's own source port if that is free, else one nat_free_port finds.
 * *to comes in with the addresses and destination port set and leaves
 * with the source port chosen. A flow whose port is fixed and taken is
 * refused, as netfilter refuses it: two endpoints' GRE to one remote
 * would share the node's side of it. Returns 0 or a drop reason. */
static __always_inline int nat_create(const struct pkt *p, struct ct_key *to, __u32 ifindex, __u32 ct_flags, __u32 nat_flags)
{
	int i, err, port;

	to->sport = p->tuple.sport;
	for (i = 0; i < NAT_PORT_RACES; i++) {
		err = flow_create(p, to, ifindex, ct_flags, nat_flags);
		if (err == 0)
			return 0;
		if (err == FLOW_FULL)
			return REASON_DROP_CT_FULL;
		if (nat_port_fixed(p->tuple.proto))
			return REASON_DROP_NAT_CLASH;
		port = nat_free_port(p, to);
		if (port < 0)
			break;
		to->sport = port;
	}
	return REASON_DROP_NAT_EXHAUSTED;
}

/* nat_csum says where the L4 checksum is (0: nowhere a translation
 * touches) and how an address change touches it: TCP, UDP, UDP-Lite and
 * DCCP sum a pseudo header with the addresses, ICMP sums its own message.
 * GRE's optional checksum covers GRE and its payload only, ESP has none
 * and SCTP's CRC32c does not cover the IP header. */
static __always_inline void nat_csum(__u8 proto, __u32 l4_off, __u32 *off, __u64 *flags)
{
	*off = 0;
	*flags = 0;
	switch (proto) {
	case IPPROTO_TCP:
		*off = l4_off + 16;
		*flags = BPF_F_PSEUDO_HDR;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		*off = l4_off + 6;
		*flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
		break;
	case IPPROTO_DCCP:
		*off = l4_off + 6;
		*flags = BPF_F_PSEUDO_HDR;
		break;
	case IPPROTO_ICMP:
		*off = l4_off + 2;
		break;
	}
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
 * query identifier, with every checksum kept right (CHECKSUM_PARTIAL
 * included: the helpers know). A later fragment has only its addresses
 * and their IP header checksum: the L4 header and its checksum, which
 * covers the whole datagram, are in the first fragment. */
static __always_inline int nat_rewrite(struct __sk_buff *skb, struct event *t, const struct pkt *p, const struct ct_key *to)
{
	const struct ct_key *from = &p->tuple;
	__u64 csum_flags;
	__u32 csum_off;

	event_xlate(t, to);
	nat_csum(from->proto, p->l4_off, &csum_off, &csum_flags);
	if (p->fragment == PKT_FRAG_LATER)
		csum_flags = 0;
	if (nat_rewrite_addr(skb, IP_SADDR_OFF, ipv4_load(from->saddr), ipv4_load(to->saddr), csum_off, csum_flags) < 0 ||
	    nat_rewrite_addr(skb, IP_DADDR_OFF, ipv4_load(from->daddr), ipv4_load(to->daddr), csum_off, csum_flags) < 0)
		return -1;
	if (p->fragment == PKT_FRAG_LATER)
		return 0;
	if (from->proto == IPPROTO_ICMP) {
		/* The identifier is sport in a request, dport in a reply. */
		if (nat_rewrite_port(skb, p->l4_off + 4, from->sport, to->sport, csum_off, 0) < 0 ||
		    nat_rewrite_port(skb, p->l4_off + 4, from->dport, to->dport, csum_off, 0) < 0)
			return -1;
		return 0;
	}
	/* Without a checksum to keep, there are no ports to change either
	 * (nat_port_fixed). */
	if (!csum_off)
		return from->sport == to->sport && from->dport == to->dport ? 0 : -1;
	if (nat_rewrite_port(skb, p->l4_off, from->sport, to->sport, csum_off, csum_flags) < 0 ||
	    nat_rewrite_port(skb, p->l4_off + 2, from->dport, to->dport, csum_off, csum_flags) < 0)
		return -1;
	return 0;
}

#endif
