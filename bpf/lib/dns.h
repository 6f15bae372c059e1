/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* An endpoint's query for a name of its own network, answered where it
 * leaves the endpoint: the plain question the resolver libraries send
 * (one question, type A, class IN, no EDNS0) to its network's resolver
 * (the gateway, port DNS_RESOLVER_PORT; 127.0.0.11:53 becomes it at the
 * socket) for a name
 * enet_dns_names holds. The query is turned into its answer in place and
 * sent back up the veth: no socket, no daemon. Anything else, and every
 * name the map lacks, goes on to the daemon's resolver. */
#ifndef ENET_DNS_H
#define ENET_DNS_H

#include "common.h"
#include "eth.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

#define DNS_HDR_LEN 12
#define DNS_RR_LEN 16		/* a compressed name, type, class, TTL, length, address */
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
/* The UDP header's offset: the datapath answers no query with IP options. */
#define DNS_L4 (sizeof(struct ethhdr) + sizeof(struct iphdr))

/* Flags of a query the datapath answers: QR, opcode, AA, TC clear (RD,
 * and the bits a query leaves zero, may be anything); of its answer: QR,
 * AA, RA, and the query's RD. */
#define DNS_F_QR 0x8000
#define DNS_F_OPCODE 0x7800
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080

struct dns_hdr {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

struct dns_rr {
	__be16 name;		/* 0xc00c: the question's name */
	__be16 type;
	__be16 class;
	__be16 ttl_hi;		/* the TTL, 0: names follow their endpoints */
	__be16 ttl_lo;
	__be16 rdlength;
	__u8 addr[4];
} __attribute__((packed));

/* dns_query_ok: a question the datapath may answer, going to the
 * network's resolver in one unfragmented datagram. */
static __always_inline int dns_query_ok(const struct pkt *p, const struct network *net)
{
	return p->tuple.proto == IPPROTO_UDP && p->tuple.dport == DNS_RESOLVER_PORT && !p->fragment &&
	       p->l4_off == DNS_L4 && ipv4_load(p->tuple.daddr) == ipv4_load(net->gateway);
}

/* dns_name loads the question's name into key->name, lower case, and
 * returns its length, or 0 if it is not one name ending the question
 * right before its type and class, or is DNS_NAME_MAX long or more. */
static __always_inline __u32 dns_name(struct __sk_buff *skb, __u32 off, __u32 len, struct dns_key *key)
{
	__u32 pos = 0, n;
	__u8 c;

	if (len < 1 || len >= DNS_NAME_MAX)
		return 0;
	/* 1 to 127 on the register the call takes, for the verifier: the
	 * compiler would drop a plain mask it knows changes nothing. */
	n = len - 1;
	asm volatile("%0 &= %1" : "+r"(n) : "i"(DNS_NAME_MAX - 1));
	n += 1;
	__builtin_memset(key->name, 0, DNS_NAME_MAX);
	if (bpf_skb_load_bytes(skb, off, key->name, n) < 0)
		return 0;
	for (int i = 0; i < DNS_NAME_MAX / 2; i++) {
		if (pos >= len)
			return 0;
		c = key->name[pos & (DNS_NAME_MAX - 1)];
		if (c == 0)
			break;
		if (c > 63)
			return 0; /* a pointer, or no label at all */
		pos += c + 1;
	}
	if (pos + 1 != len)
		return 0;
	/* Length bytes are at most 63: below 'A'. */
	for (int i = 0; i < DNS_NAME_MAX; i++) {
		c = key->name[i];
		if (c >= 'A' && c <= 'Z')
			key->name[i] = c + ('a' - 'A');
	}
	return len;
}

/* dns_lookup finds the rrset a query asks for, or NULL. *qend is
 * where the question ends. */
static __always_inline struct dns_rrset *dns_lookup(struct __sk_buff *skb, const struct iface *ifc,
						    struct dns_hdr *h, __u32 *qend)
{
	__u32 zero = 0, name_off = DNS_L4 + sizeof(struct udphdr) + DNS_HDR_LEN, len;
	struct dns_key *key = bpf_map_lookup_elem(&enet_dns_scratch, &zero);
	__be16 tc[2];

	if (!key || skb->len < name_off + 1 + sizeof(tc))
		return NULL;
	if (bpf_skb_load_bytes(skb, DNS_L4 + sizeof(struct udphdr), h, sizeof(*h)) < 0)
		return NULL;
	if ((h->flags & bpf_htons(DNS_F_QR | DNS_F_OPCODE | DNS_F_AA | DNS_F_TC)) || h->qdcount != bpf_htons(1) ||
	    h->ancount || h->nscount || h->arcount)
		return NULL;
	len = dns_name(skb, name_off, skb->len - name_off - sizeof(tc), key);
	if (!len || bpf_skb_load_bytes(skb, name_off + len, tc, sizeof(tc)) < 0)
		return NULL;
	if (tc[0] != bpf_htons(DNS_TYPE_A) || tc[1] != bpf_htons(DNS_CLASS_IN))
		return NULL;
	key->net_id = ifc->net_id;
	*qend = name_off + len + sizeof(tc);
	return bpf_map_lookup_elem(&enet_dns_names, key);
}

/* dns_write_answers appends the rrset's addresses, the next in turn
 * first, after the question. */
static __always_inline int dns_write_answers(struct __sk_buff *skb, __u32 qend, struct dns_rrset *rr, __u32 count)
{
	/* Not atomic: two CPUs at once may start at the same address. */
	__u32 turn = rr->turn;
	struct dns_rr a = {
		.name = bpf_htons(0xc00c), .type = bpf_htons(DNS_TYPE_A), .class = bpf_htons(DNS_CLASS_IN),
		.rdlength = bpf_htons(4),
	};

	rr->turn = turn + 1;
	if (bpf_skb_change_tail(skb, qend + count * DNS_RR_LEN, 0) < 0)
		return -1;
	for (__u32 i = 0; i < DNS_ADDRS_MAX; i++) {
		if (i >= count)
			break;
		__builtin_memcpy(a.addr, rr->addrs[((turn + i) % count) & (DNS_ADDRS_MAX - 1)], 4);
		if (bpf_skb_store_bytes(skb, qend + i * DNS_RR_LEN, &a, sizeof(a), 0) < 0)
			return -1;
	}
	return 0;
}

/* dns_turn_around makes the frame, now qend + the answers long, go back
 * to the endpoint: from the gateway's MAC, address and resolver port to
 * the asker's, with the answer's header. The UDP checksum is left out (0),
 * as IPv4 allows. */
static __always_inline int dns_turn_around(struct __sk_buff *skb, const struct network *net, const struct iface *ifc,
					   struct dns_hdr *h, __u32 count)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = data + DNS_L4;
	__be32 asker;
	__u64 sum;
	__u16 port;

	if ((void *)(udp + 1) > end || (void *)(ip + 1) > end)
		return -1;
	eth_addr_copy(eth->h_dest, ifc->mac);
	eth_addr_copy(eth->h_source, net->gateway_mac);
	asker = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = asker;
	ip->tot_len = bpf_htons(skb->len - sizeof(*eth));
	ip->ttl = 64;
	ip->frag_off = bpf_htons(0x4000); /* DF */
	ip->check = 0;
	sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = ~sum;
	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;
	udp->len = bpf_htons(skb->len - DNS_L4);
	udp->check = 0;
	h->flags = bpf_htons(DNS_F_QR | DNS_F_AA | DNS_F_RA) | (h->flags & bpf_htons(DNS_F_RD));
	h->ancount = bpf_htons(count);
	return bpf_skb_store_bytes(skb, DNS_L4 + sizeof(*udp), h, sizeof(*h), 0);
}

/* dns_answer answers an endpoint's query for a name of its network, or
 * returns ENET_CONTINUE for the resolver to. */
static __always_inline int dns_answer(struct __sk_buff *skb, struct event *t, const struct iface *ifc,
				      const struct network *net, const struct pkt *p)
{
	struct dns_rrset *rr;
	struct dns_hdr h;
	__u32 qend, count;

	if (!dns_query_ok(p, net))
		return ENET_CONTINUE;
	rr = dns_lookup(skb, ifc, &h, &qend);
	if (!rr)
		return ENET_CONTINUE;
	count = rr->count;
	if (count < 1 || count > DNS_ADDRS_MAX)
		return ENET_CONTINUE;
	/* Past here the query is changed: it is answered, or dropped. */
	if (dns_write_answers(skb, qend, rr, count) < 0 || dns_turn_around(skb, net, ifc, &h, count) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	verdict_count(t->ifindex, REASON_DNS_ANSWERED, t->len);
	verdict_emit(t, REASON_DNS_ANSWERED, t->ifindex);
	return bpf_redirect(skb->ifindex, 0);
}

#endif
