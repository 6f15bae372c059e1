/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv4 parsing and address classes. */
#ifndef ENET_IPV4_H
#define ENET_IPV4_H

#include "common.h"

/* ipv4_hdr returns the IPv4 header after an Ethernet header, or NULL when
 * it is truncated or not a sane IPv4 header. */
__inline struct iphdr *ipv4_hdr(struct __sk_buff *skb)
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

__inline __be32 prefix_mask(__u32 prefixlen)
{
	if (prefixlen == 0)
		return 0;
	if (prefixlen >= 32)
		return 0xffffffff;
	return bpf_htonl(~0U << (32 - prefixlen));
}

/* ipv4_is_loopback: 127.0.0.0/8. */
__inline int ipv4_is_loopback(__be32 addr)
{
	return (addr & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
}

/* ipv4_is_bcast_mcast: the limited broadcast, class D, or the
 * directed broadcast of the given subnet. */
__inline int ipv4_is_bcast_mcast(__be32 dst, __be32 subnet, __u32 prefixlen)
{
	if (dst == 0xffffffff)
		return 1;
	if ((dst & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000))
		return 1;
	if (prefixlen >= 31)
		return 0;
	__be32 mask = prefix_mask(prefixlen);
	return (dst & mask) == subnet && (dst | mask) == 0xffffffff;
}

#endif
