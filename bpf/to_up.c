// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_to_up: tc egress of the uplink. The node's own flows are recorded
 * so masquerade never hands their ports to an endpoint's flow; what the
 * kernel routed for endpoints, and its ICMP errors about their flows, are
 * translated. */

#include "lib/common.h"
#include "lib/fib.h"
#include "lib/ipv4.h"
#include "lib/to_up.h"

SEC("tc")
int enet_to_up(struct __sk_buff *skb)
{
	struct event t = { .ifindex = skb->ifindex, .len = skb->len, .hook = HOOK_TO_UP };
	struct iphdr *ip;

	if (fib_sent_by_us(skb))
		return TC_ACT_OK;
	ip = ipv4_parse(skb, &t);
	if (!ip)
		return TC_ACT_OK;
	return to_up_ipv4(skb, &t, ip);
}
