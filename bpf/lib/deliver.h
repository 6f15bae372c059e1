/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Delivery of a routed packet into an endpoint. */
#ifndef ENET_DELIVER_H
#define ENET_DELIVER_H

#include "common.h"
#include "fib.h"
#include "ipv4.h"
#include "maps.h"
#include "stats.h"

__inline struct endpoint *endpoint_lookup(__be32 addr)
{
	struct ep_key key = { .family = ENET_AF_INET };

	v4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_endpoints, &key);
}

/* deliver_ep hands a routed packet to the endpoint owning its (already
 * translated) destination: gateway MAC as source, TTL down, straight into
 * its eth0 with bpf_redirect_peer. */
__inline int deliver_ep(struct __sk_buff *skb, struct event *t, __be32 daddr, __u32 reason)
{
	struct endpoint *ep = endpoint_lookup(daddr);
	struct network *net;
	struct iphdr *ip;

	if (!ep)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	ip = ipv4_hdr(skb);
	if (!net || !ip)
		return drop(t, REASON_DROP_MALFORMED);
	if (ip->ttl <= 1)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	if (ipv4_ttl_dec(skb, ip->ttl) < 0 || set_macs(skb, net->gateway_mac, ep->mac) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	count(t->ifindex, reason, t->len);
	emit(t, reason, ep->ifindex);
	return bpf_redirect_peer(ep->ifindex, 0);
}

#endif
