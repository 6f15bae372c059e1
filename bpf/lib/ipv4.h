/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The IPv4 header: parsing, address classes, and the TTL of a routed
 * packet. */
#ifndef ENET_IPV4_H
#define ENET_IPV4_H

#include "common.h"
#include "eth.h"
#include "maps.h"

/* Offsets of the header's fields from the start of the frame. */
#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + __builtin_offsetof(struct iphdr, check))
#define IP_SADDR_OFF (IP_OFF + __builtin_offsetof(struct iphdr, saddr))
#define IP_DADDR_OFF (IP_OFF + __builtin_offsetof(struct iphdr, daddr))
#define IP_TTL_OFF (IP_OFF + __builtin_offsetof(struct iphdr, ttl))

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

/* Addresses live in maps as byte arrays so bpftool prints them readably. */
static __always_inline __be32 ipv4_load(const __u8 *a)
{
	return *(const __be32 *)a;
}

static __always_inline void ipv4_store(__u8 *a, __be32 v)
{
	*(__be32 *)a = v;
}

/* ipv4_hdr returns the IPv4 header after an Ethernet header, or NULL when
 * it is truncated or not a sane IPv4 header. */
static __always_inline struct iphdr *ipv4_hdr(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > end)
		return NULL;
	if (ip->version != 4 || ip->ihl < 5)
		return NULL;
	return ip;
}

/* ipv4_parse is the start of every tc program: the IPv4 header of an
 * IPv4 frame, with the event the program carries told its ethertype,
 * protocol and addresses; NULL for a runt, another ethertype or a header
 * that is not sane (t->ethertype tells which). */
static __always_inline struct iphdr *ipv4_parse(struct __sk_buff *skb, struct event *t)
{
	struct ethhdr *eth = eth_hdr(skb);
	struct iphdr *ip;

	if (!eth)
		return NULL;
	t->ethertype = bpf_ntohs(eth->h_proto);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	ip = ipv4_hdr(skb);
	if (!ip)
		return NULL;
	t->proto = ip->protocol;
	ipv4_store(t->saddr, ip->saddr);
	ipv4_store(t->daddr, ip->daddr);
	return ip;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

/* ipv4_frag_offset is where a fragment's payload starts in its datagram,
 * in bytes: 0 for the first fragment, which carries the L4 header. */
static __always_inline __u32 ipv4_frag_offset(const struct iphdr *ip)
{
	return (__u32)(bpf_ntohs(ip->frag_off) & IP_OFFSET) * 8;
}

static __always_inline __be32 ipv4_prefix_mask(__u32 prefixlen)
{
	if (prefixlen == 0)
		return 0;
	if (prefixlen >= 32)
		return 0xffffffff;
	return bpf_htonl(~0U << (32 - prefixlen));
}

/* ipv4_is_loopback: 127.0.0.0/8. */
static __always_inline int ipv4_is_loopback(__be32 addr)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

/* ipv4_is_group: the limited broadcast or class D, which no router
 * forwards as it is. */
static __always_inline int ipv4_is_group(__be32 dst)
{
	return dst == 0xffffffff || (dst & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000);
}

/* ipv4_is_bcast_mcast: the limited broadcast, class D, or the
 * directed broadcast of the given subnet. */
static __always_inline int ipv4_is_bcast_mcast(__be32 dst, __be32 subnet, __u32 prefixlen)
{
	if (ipv4_is_group(dst))
		return 1;
	if (prefixlen >= 31)
		return 0;
	__be32 mask = ipv4_prefix_mask(prefixlen);
	return (dst & mask) == subnet && (dst | mask) == 0xffffffff;
}

/* ipv4_ttl_set changes the TTL of a packet from one value to another, its
 * header checksum with it. */
static __always_inline int ipv4_ttl_set(struct __sk_buff *skb, __u8 from, __u8 to)
{
	__u16 old = bpf_htons((__u16)from << 8), new = bpf_htons((__u16)to << 8);

	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, new, sizeof(new)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, IP_TTL_OFF, &to, sizeof(to), 0);
}

/* ipv4_ttl_dec takes one off the TTL of a routed packet. */
static __always_inline int ipv4_ttl_dec(struct __sk_buff *skb, __u8 ttl)
{
	return ipv4_ttl_set(skb, ttl, ttl - 1);
}

#endif
