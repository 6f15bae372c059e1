// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_from_up: tc ingress of the uplink. Replies of masqueraded flows go
 * straight to their endpoint; everything else is the node's. */

#include "lib/common.h"
#include "lib/ipv4.h"
#include "lib/stats.h"
#include "lib/uplink.h"

SEC("tc")
int enet_from_up(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct event t = { .ifindex = skb->ingress_ifindex, .len = skb->len };
	struct iphdr *ip;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	t.ethertype = ETH_P_IP;
	ip = ipv4_hdr(skb);
	if (!ip)
		return TC_ACT_OK;
	t.proto = ip->protocol;
	v4_store(t.saddr, ip->saddr);
	v4_store(t.daddr, ip->daddr);
	return from_up_ipv4(skb, &t, ip);
}
