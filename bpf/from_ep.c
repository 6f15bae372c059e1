// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_from_ep: tc ingress of the host side of every endpoint veth, i.e.
 * every frame an endpoint sends. */

#include "lib/common.h"
#include "lib/endpoint.h"
#include "lib/eth.h"
#include "lib/maps.h"
#include "lib/stats.h"

SEC("tc")
int enet_from_ep(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct event t = { .ifindex = skb->ingress_ifindex, .len = skb->len };
	struct iface *ifc;
	struct iphdr *ip;

	if ((void *)(eth + 1) > end)
		return drop(&t, REASON_DROP_MALFORMED);
	t.ethertype = bpf_ntohs(eth->h_proto);
	ifc = bpf_map_lookup_elem(&enet_ifaces, &t.ifindex);
	if (!ifc)
		return drop(&t, REASON_DROP_NO_IFACE);
	if (!mac_eq(eth->h_source, ifc->mac))
		return drop(&t, REASON_DROP_SPOOF_MAC);

	switch (eth->h_proto) {
	case bpf_htons(ETH_P_ARP):
		return from_ep_arp(skb, &t, ifc);
	case bpf_htons(ETH_P_IP):
		break;
	default:
		return drop(&t, REASON_DROP_PROTO);
	}

	ip = ipv4_hdr(skb);
	if (!ip)
		return drop(&t, REASON_DROP_MALFORMED);
	t.proto = ip->protocol;
	v4_store(t.saddr, ip->saddr);
	v4_store(t.daddr, ip->daddr);
	if (ip->saddr != v4_load(ifc->ip4))
		return drop(&t, REASON_DROP_SPOOF_IP);
	return from_ep_ipv4(skb, &t, ifc);
}
