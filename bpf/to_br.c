// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_to_br: tc egress of a network's bridge, which carries what the
 * node itself sends into the network. The node's own flows to endpoints
 * are recorded so a hairpin flow never takes their tuple. */

#include "lib/common.h"
#include "lib/fib.h"
#include "lib/ipv4.h"
#include "lib/to_br.h"

SEC("tc")
int enet_to_br(struct __sk_buff *skb)
{
	struct event t = { .ifindex = skb->ifindex, .len = skb->len, .hook = HOOK_TO_BR };
	struct iphdr *ip;

	if (fib_sent_by_us(skb))
		return TC_ACT_OK;
	ip = ipv4_parse(skb, &t);
	if (!ip)
		return TC_ACT_OK;
	return to_br_ipv4(skb, &t, ip);
}
