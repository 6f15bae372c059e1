/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A packet's flow tuple (struct ct_key) and where the fields the
 * translators rewrite are. Headers past IPv4 are read with
 * bpf_skb_load_bytes, so they need not be in the linear part of the skb. */
#ifndef ENET_TUPLE_H
#define ENET_TUPLE_H

#include "common.h"
#include "ipv4.h"
#include "maps.h"
#include "tcp.h"

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_TIMESTAMP 13
#define ICMP_TIMESTAMPREPLY 14
#define ICMP_INFO_REQUEST 15
#define ICMP_INFO_REPLY 16
#define ICMP_ADDRESS 17
#define ICMP_ADDRESSREPLY 18

struct icmp4 {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 seq;
};

/* What the translators need to know about a packet. */
struct pkt {
	struct ct_key tuple;
	__u32 l4_off;		/* from the start of the frame */
	__u32 len;		/* IP total length */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_error;	/* an ICMP error carrying the packet it is about */
	__u8 fragment;		/* PKT_FRAG_* */
	struct tcp_seg tcp;	/* TCP: what conntrack follows */
};

/* struct pkt.fragment: a datagram's first fragment carries its L4 header,
 * a later one only its addresses, IP id and protocol. */
#define PKT_FRAG_NONE 0
#define PKT_FRAG_FIRST 1
#define PKT_FRAG_LATER 2

/* tuple_icmp_query: an ICMP query pairs a request with its reply by an
 * identifier (echo, timestamp, information, address mask; RFC 792, 950),
 * which is the flow's "port", as netfilter's ICMP tracker has it. Returns
 * 1 for a request, -1 for a reply, 0 for any other type. */
static __always_inline int tuple_icmp_query(__u8 type)
{
	switch (type) {
	case ICMP_ECHO:
	case ICMP_TIMESTAMP:
	case ICMP_INFO_REQUEST:
	case ICMP_ADDRESS:
		return 1;
	case ICMP_ECHOREPLY:
	case ICMP_TIMESTAMPREPLY:
	case ICMP_INFO_REPLY:
	case ICMP_ADDRESSREPLY:
		return -1;
	}
	return 0;
}

/* tuple_ports fills the ports of a tuple from the L4 header at off. An
 * ICMP query uses its identifier: sport in a request, dport in a reply,
 * so a flow's reply tuple is its tuple with both sides swapped. Protocols
 * without ports keep 0 in both: their flows are tracked by addresses
 * alone, one per (source, destination, protocol), as netfilter's generic
 * tracker does. Returns 0, or -1 when the header is not there or is an
 * ICMP message that belongs to no flow. */
static __always_inline int tuple_ports(struct __sk_buff *skb, __u32 off, struct ct_key *t, struct pkt *p)
{
	struct icmp4 icmp;
	struct tcp_head th;
	__be16 ports[2];

	switch (t->proto) {
	case IPPROTO_TCP:
		/* Only a packet's own header is read past the ports: an ICMP
		 * error may quote no more than 8 bytes of TCP (RFC 792). */
		if (p) {
			__u32 hdrs = off - IP_OFF;

			if (tcp_parse(skb, off, p->len > hdrs ? p->len - hdrs : 0, &th, &p->tcp) < 0)
				return -1;
			p->tcp_flags = th.flags;
			t->sport = bpf_ntohs(th.sport);
			t->dport = bpf_ntohs(th.dport);
			return 0;
		}
		/* fallthrough */
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
	case IPPROTO_SCTP:
		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
			return -1;
		t->sport = bpf_ntohs(ports[0]);
		t->dport = bpf_ntohs(ports[1]);
		return 0;
	case IPPROTO_ICMP:
		if (bpf_skb_load_bytes(skb, off, &icmp, sizeof(icmp)) < 0)
			return -1;
		if (p)
			p->icmp_type = icmp.type;
		switch (tuple_icmp_query(icmp.type)) {
		case 1:
			t->sport = bpf_ntohs(icmp.id);
			t->dport = 0;
			return 0;
		case -1:
			t->sport = 0;
			t->dport = bpf_ntohs(icmp.id);
			return 0;
		}
		switch (icmp.type) {
		case ICMP_DEST_UNREACH:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			if (p)
				p->icmp_error = 1;
			return 0;
		}
		return -1;
	}
	return 0;
}

/* tuple_parse reads the tuple of the IPv4 packet whose header is ip. Returns
 * 0, or -1 for a packet without a tuple (ICMP of no flow, truncated). A
 * later fragment gets addresses and protocol only: its ports are
 * enet_frags' (frag.h). */
static __always_inline int tuple_parse(struct __sk_buff *skb, const struct iphdr *ip, struct pkt *p)
{
	__builtin_memset(p, 0, sizeof(*p));
	ipv4_store(p->tuple.saddr, ip->saddr);
	ipv4_store(p->tuple.daddr, ip->daddr);
	p->tuple.proto = ip->protocol;
	p->l4_off = IP_OFF + ((__u32)ip->ihl & 0xf) * 4;
	p->len = bpf_ntohs(ip->tot_len);
	if (ipv4_is_fragment(ip)) {
		p->fragment = ipv4_frag_offset(ip) ? PKT_FRAG_LATER : PKT_FRAG_FIRST;
		if (p->fragment == PKT_FRAG_LATER)
			return -1;
	}
	return tuple_ports(skb, p->l4_off, &p->tuple, p);
}

static __always_inline int tuple_eq(const struct ct_key *a, const struct ct_key *b)
{
	return ipv4_load(a->saddr) == ipv4_load(b->saddr) && ipv4_load(a->daddr) == ipv4_load(b->daddr) &&
	       a->sport == b->sport && a->dport == b->dport && a->proto == b->proto;
}

static __always_inline void tuple_reverse(struct ct_key *dst, const struct ct_key *src)
{
	__builtin_memcpy(dst->saddr, src->daddr, 4);
	__builtin_memcpy(dst->daddr, src->saddr, 4);
	dst->sport = src->dport;
	dst->dport = src->sport;
	dst->proto = src->proto;
	dst->pad[0] = dst->pad[1] = dst->pad[2] = 0;
}

#endif
