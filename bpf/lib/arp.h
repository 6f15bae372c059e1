/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ARP for IPv4 over Ethernet (RFC 826). */
#ifndef ENET_ARP_H
#define ENET_ARP_H

#include "common.h"
#include "eth.h"

struct arp_eth4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

/* arp_sender_ok: an endpoint may announce only its own MAC and address;
 * 0.0.0.0 is allowed for duplicate address probes (RFC 5227). The hardware
 * type is not trusted: Linux takes IEEE 802 (6) as well as Ethernet (1) on
 * an Ethernet device (arp_process), and learns the sender from either. */
static __always_inline int arp_sender_ok(const struct arp_eth4 *arp, const __u8 *mac, __be32 ip)
{
	__be32 spa;

	if (arp->ptype != bpf_htons(ETH_P_IP) || arp->hlen != ETH_ALEN || arp->plen != 4)
		return 1; /* Linux ignores it: nothing to impersonate */
	if (!eth_addr_eq(arp->sha, mac))
		return 0;
	__builtin_memcpy(&spa, arp->spa, 4);
	return spa == ip || spa == 0;
}

#endif
