/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Handing an endpoint's frame to the Linux bridge, which stays for L2:
 * ARP, broadcast, frames other than IPv4, and the gateway address of the
 * node. */
#ifndef ENET_BRIDGE_H
#define ENET_BRIDGE_H

#include "common.h"
#include "eth.h"
#include "maps.h"
#include "verdict.h"

/* bridge_to_gateway_mac: the frame is addressed to the bridge itself. */
static __always_inline int bridge_to_gateway_mac(struct __sk_buff *skb, const struct network *net)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	return (void *)(eth + 1) <= end && eth_addr_eq(eth->h_dest, net->gateway_mac);
}

/* bridge_pass_as hands a frame to the bridge, counted as reason. With
 * icc off the bridge may carry it only to itself: a frame to another
 * endpoint's MAC would reach that endpoint whatever its IP says. */
static __always_inline int bridge_pass_as(struct __sk_buff *skb, struct event *t, const struct network *net, __u32 reason)
{
	if (!(net->flags & NET_F_ICC) && !bridge_to_gateway_mac(skb, net))
		return verdict_drop(t, REASON_DROP_ICC);
	return verdict(t, reason, 0, TC_ACT_OK);
}

static __always_inline int bridge_pass(struct __sk_buff *skb, struct event *t, const struct network *net)
{
	return bridge_pass_as(skb, t, net, REASON_TO_BRIDGE);
}

#endif
