/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* enet_xdp_up: what must never enter, dropped on the uplink before the
 * kernel allocates a socket buffer for it: malformed frames, sources in a
 * prefilter prefix, and sources claiming to be inside an endpoint subnet
 * while arriving from outside. Everything else (ARP, IPv6, the node's own
 * services, every flow) passes untouched to the TC programs and the stack.
 * Only drops are counted, so passing costs no map write. */
#ifndef ENET_XDP_H
#define ENET_XDP_H

#include "common.h"
#include "event.h"
#include "ipv4.h"
#include "maps.h"

static __always_inline int xdp_drop(struct xdp_md *ctx, __u32 reason, __u32 len)
{
	stats_count(ctx->ingress_ifindex, reason, len);
	return XDP_DROP;
}

/* xdp_ipv4 checks an IPv4 header lies whole in the frame and says what
 * it says of itself: version 4, a length of at least 20 bytes, a total
 * length covering it and inside the frame (Ethernet may pad after it). */
static __always_inline struct iphdr *xdp_ipv4(void *data, void *end)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 hl, tot;

	if ((void *)(ip + 1) > end || ip->version != 4 || ip->ihl < 5)
		return NULL;
	hl = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if ((void *)ip + hl > end || tot < hl || (void *)ip + tot > end)
		return NULL;
	return ip;
}

static __always_inline int xdp_up(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 len = end - data;
	struct subnet_key key = { .prefixlen = 32 };
	struct prefilter *pf;
	struct iphdr *ip;

	if ((void *)(eth + 1) > end)
		return xdp_drop(ctx, REASON_DROP_XDP_MALFORMED, len);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = xdp_ipv4(data, end);
	if (!ip)
		return xdp_drop(ctx, REASON_DROP_XDP_MALFORMED, len);
	ipv4_store(key.addr, ip->saddr);
	pf = bpf_map_lookup_elem(&enet_prefilter, &key);
	if (pf) {
		__sync_fetch_and_add(&pf->packets, 1);
		__sync_fetch_and_add(&pf->bytes, len);
		return xdp_drop(ctx, REASON_DROP_PREFILTER, len);
	}
	if (bpf_map_lookup_elem(&enet_subnets, &key))
		return xdp_drop(ctx, REASON_DROP_SPOOF_OUTSIDE, len);
	return XDP_PASS;
}

#endif
