// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_to_up: tc egress of the uplink. The node's own flows are recorded
 * so masquerade never hands their ports to an endpoint's flow. */

#include "lib/common.h"
#include "lib/fib.h"
#include "lib/ipv4.h"
#include "lib/stats.h"
#include "lib/uplink.h"

SEC("tc")
int enet_to_up(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct event t = { .ifindex = skb->ifindex, .len = skb->len };
	struct iphdr *ip;

	/* Translated already by the program that sent it here. */
	if (skb->mark == ENET_MARK_OUT) {
		skb->mark = 0;
		return TC_ACT_OK;
	}
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	t.ethertype = ETH_P_IP;
	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;
	t.proto = ip->protocol;
	v4_store(t.saddr, ip->saddr);
	v4_store(t.daddr, ip->daddr);
	return to_up_host(skb, &t, ip);
}
