/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Delivery of a routed packet into an endpoint. */
#ifndef ENET_DELIVER_H
#define ENET_DELIVER_H

#include "common.h"
#include "eth.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "verdict.h"

/* deliver_endpoint hands a routed packet to the endpoint owning its (already
 * translated) destination: gateway MAC as source, TTL down, straight into
 * its eth0 with bpf_redirect_peer. */
static __always_inline int deliver_endpoint(struct __sk_buff *skb, struct event *t, __be32 daddr, __u32 reason)
{
	struct endpoint *ep = lookup_endpoint(daddr);
	struct network *net;
	struct iphdr *ip;

	if (!ep)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	ip = ipv4_hdr(skb);
	if (!net || !ip)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	if (ip->ttl <= 1)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	if (ipv4_ttl_dec(skb, ip->ttl) < 0 || eth_set_macs(skb, net->gateway_mac, ep->mac) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	verdict_count(t->ifindex, reason, t->len);
	verdict_emit(t, reason, ep->ifindex);
	return bpf_redirect_peer(ep->ifindex, 0);
}

#endif
