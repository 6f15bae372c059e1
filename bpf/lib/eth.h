/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The Ethernet header: finding it, its VLAN, comparing and rewriting
 * MACs. */
#ifndef ENET_ETH_H
#define ENET_ETH_H

#include "common.h"

/* eth_hdr returns the frame's Ethernet header, or NULL for a runt. */
static __always_inline struct ethhdr *eth_hdr(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return NULL;
	return eth;
}

#define VLAN_VID_MASK 0x0fff

/* eth_vlan_id is the VLAN a frame belongs to for the endpoints that get
 * it: its tag's id, whether the kernel moved the tag into skb->vlan_tci
 * (it does before tc ingress) or it is in the data. 0 for an untagged
 * frame, or one tagged with a priority only (VLAN 0), which receivers
 * take as untagged. -1 for a priority tag followed by another in the data,
 * which receivers look past and the datapath does not. */
static __always_inline int eth_vlan_id(struct __sk_buff *skb, const struct ethhdr *eth)
{
	__be16 tci;

	if (skb->vlan_present && (skb->vlan_tci & VLAN_VID_MASK))
		return skb->vlan_tci & VLAN_VID_MASK;
	if (eth->h_proto != bpf_htons(ETH_P_8021Q) && eth->h_proto != bpf_htons(ETH_P_8021AD))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &tci, sizeof(tci)) < 0 || !(bpf_ntohs(tci) & VLAN_VID_MASK))
		return -1;
	return bpf_ntohs(tci) & VLAN_VID_MASK;
}

static __always_inline int eth_addr_eq(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

static __always_inline void eth_addr_copy(__u8 *dst, const __u8 *src)
{
	*(__u32 *)dst = *(const __u32 *)src;
	*(__u16 *)(dst + 4) = *(const __u16 *)(src + 4);
}

/* eth_set_macs rewrites both addresses of a routed frame. */
static __always_inline int eth_set_macs(struct __sk_buff *skb, const __u8 *src, const __u8 *dst)
{
	if (bpf_skb_store_bytes(skb, 0, dst, ETH_ALEN, 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, ETH_ALEN, src, ETH_ALEN, 0);
}

#endif
