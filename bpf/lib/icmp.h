/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ICMP errors about translated flows. The error carries the start of the
 * packet it is about, which travelled the other way: that packet's reply
 * tuple is the key of the NAT entry for the error's own direction. Both
 * the outer destination and the inner packet are translated back, or PMTU
 * discovery and ECONNREFUSED break. */
#ifndef ENET_ICMP_H
#define ENET_ICMP_H

#include "common.h"
#include "tuple.h"
#include "maps.h"
#include "nat.h"

#define ICMP_INNER_OFF(p) ((p)->l4_off + sizeof(struct icmp4))

/* The inner packet of an ICMP error, as read from it. */
struct icmp_inner {
	struct ct_key tuple;
	__u32 ip_off;
	__u32 l4_off;
};

static __always_inline int icmp_inner_parse(struct __sk_buff *skb, const struct pkt *p, struct icmp_inner *in)
{
	struct iphdr ip;

	__builtin_memset(in, 0, sizeof(*in));
	in->ip_off = ICMP_INNER_OFF(p);
	if (bpf_skb_load_bytes(skb, in->ip_off, &ip, sizeof(ip)) < 0)
		return -1;
	/* A first fragment quotes its ports (the reassembly timeout of a
	 * datagram that lost a later one does); a later one has none. */
	if (ip.version != 4 || ip.ihl < 5 || ipv4_frag_offset(&ip))
		return -1;
	ipv4_store(in->tuple.saddr, ip.saddr);
	ipv4_store(in->tuple.daddr, ip.daddr);
	in->tuple.proto = ip.protocol;
	in->l4_off = in->ip_off + ((__u32)ip.ihl & 0xf) * 4;
	if (ip.protocol == IPPROTO_ICMP) {
		/* Only echo has a tuple; an error about an error is dropped. */
		struct icmp4 icmp;

		if (bpf_skb_load_bytes(skb, in->l4_off, &icmp, sizeof(icmp)) < 0 ||
		    (icmp.type != ICMP_ECHO && icmp.type != ICMP_ECHOREPLY))
			return -1;
	}
	return tuple_ports(skb, in->l4_off, &in->tuple, NULL);
}

/* icmp_inner_rewrite_addr changes an inner address and the inner header's
 * checksum. The inner header still sums to zero after, so the ICMP
 * checksum over it does not change. */
static __always_inline int icmp_inner_rewrite_addr(struct __sk_buff *skb, const struct icmp_inner *in, __u32 field,
				__be32 from, __be32 to)
{
	if (from == to)
		return 0;
	if (bpf_l3_csum_replace(skb, in->ip_off + __builtin_offsetof(struct iphdr, check), from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, in->ip_off + field, &to, sizeof(to), 0);
}

/* icmp_inner_rewrite_port changes an inner port (or echo identifier) and the
 * ICMP checksum, which covers it. The inner L4 checksum is left alone:
 * receivers match errors to sockets by addresses and ports only. */
static __always_inline int icmp_inner_rewrite_port(struct __sk_buff *skb, const struct pkt *p, __u32 off, __u16 from, __u16 to)
{
	__be16 f = bpf_htons(from), t = bpf_htons(to);

	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, p->l4_off + 2, f, t, sizeof(t)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &t, sizeof(t), 0);
}

static __always_inline int icmp_inner_rewrite(struct __sk_buff *skb, const struct pkt *p, const struct icmp_inner *in,
			   const struct ct_key *to)
{
	const struct ct_key *from = &in->tuple;

	if (icmp_inner_rewrite_addr(skb, in, __builtin_offsetof(struct iphdr, saddr), ipv4_load(from->saddr), ipv4_load(to->saddr)) < 0 ||
	    icmp_inner_rewrite_addr(skb, in, __builtin_offsetof(struct iphdr, daddr), ipv4_load(from->daddr), ipv4_load(to->daddr)) < 0)
		return -1;
	if (from->proto == IPPROTO_ICMP)
		return icmp_inner_rewrite_port(skb, p, in->l4_off + 4, from->sport | from->dport, to->sport | to->dport);
	if (icmp_inner_rewrite_port(skb, p, in->l4_off, from->sport, to->sport) < 0 ||
	    icmp_inner_rewrite_port(skb, p, in->l4_off + 2, from->dport, to->dport) < 0)
		return -1;
	return 0;
}

/* icmp_error_xlate translates an ICMP error about a translated flow and
 * returns its entry, or NULL when the error is about no flow of ours. The
 * outer source changes too when the error came from the far end itself.
 * An endpoint's error (owner: its address; 0 on the uplink) can only be
 * about a packet sent to it: one quoting another endpoint's flow is
 * forged, and about no flow. */
static __always_inline struct nat_entry *icmp_error_xlate(struct __sk_buff *skb, const struct pkt *p, __u64 now, __be32 owner)
{
	struct icmp_inner in;
	struct pkt key = {};
	struct ct_entry *ct;
	struct nat_entry *e;
	struct ct_key inner_to;
	__be32 outer_saddr = ipv4_load(p->tuple.saddr);

	if (icmp_inner_parse(skb, p, &in) < 0)
		return NULL;
	if (owner && ipv4_load(in.tuple.daddr) != owner)
		return NULL;
	tuple_reverse(&key.tuple, &in.tuple);
	key.len = p->len;
	e = nat_find(&key, &ct, now, skb->ingress_ifindex);
	if (!e)
		return NULL;
	tuple_reverse(&inner_to, &e->to);
	if (icmp_inner_rewrite(skb, p, &in, &inner_to) < 0)
		return NULL;
	if (nat_rewrite_addr(skb, IP_DADDR_OFF, ipv4_load(p->tuple.daddr), ipv4_load(e->to.daddr), 0, 0) < 0)
		return NULL;
	if (outer_saddr == ipv4_load(in.tuple.daddr) &&
	    nat_rewrite_addr(skb, IP_SADDR_OFF, outer_saddr, ipv4_load(inner_to.daddr), 0, 0) < 0)
		return NULL;
	return e;
}

#endif
