// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_from_up: tc ingress of the uplink. Replies of masqueraded flows go
 * straight to their endpoint; everything else is the node's. */

#include "lib/common.h"
#include "lib/from_up.h"
#include "lib/ipv4.h"

SEC("tc")
int enet_from_up(struct __sk_buff *skb)
{
	struct event t = { .ifindex = skb->ingress_ifindex, .len = skb->len, .hook = HOOK_FROM_UP };
	struct iphdr *ip = ipv4_parse(skb, &t);

	if (!ip)
		return TC_ACT_OK;
	return from_up_ipv4(skb, &t, ip);
}
