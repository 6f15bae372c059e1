// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_from_ep: tc ingress of the host side of every endpoint veth, i.e.
 * every frame an endpoint sends. */

#include "lib/common.h"
#include "lib/eth.h"
#include "lib/from_ep.h"
#include "lib/ipv4.h"
#include "lib/maps.h"
#include "lib/verdict.h"

SEC("tc")
int enet_from_ep(struct __sk_buff *skb)
{
	struct event t = { .ifindex = skb->ingress_ifindex, .len = skb->len, .hook = HOOK_FROM_EP };
	struct ethhdr *eth = eth_hdr(skb);
	struct iface *ifc;
	struct iphdr *ip;
	int vlan;

	if (!eth)
		return verdict_drop(&t, REASON_DROP_MALFORMED);
	t.ethertype = bpf_ntohs(eth->h_proto);
	ifc = bpf_map_lookup_elem(&enet_ifaces, &t.ifindex);
	if (!ifc)
		return verdict_drop(&t, REASON_DROP_NO_IFACE);
	if (!eth_addr_eq(eth->h_source, ifc->mac))
		return verdict_drop(&t, REASON_DROP_SPOOF_MAC);
	vlan = eth_vlan_id(skb, eth);
	if (vlan < 0)
		return verdict_drop(&t, REASON_DROP_PROTO);
	if (vlan > 0)
		return from_ep_l2(skb, &t, ifc);
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return from_ep_arp(skb, &t, ifc);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return from_ep_l2(skb, &t, ifc);

	ip = ipv4_parse(skb, &t);
	if (!ip)
		return verdict_drop(&t, REASON_DROP_MALFORMED);
	if (ip->saddr != ipv4_load(ifc->ip4))
		return verdict_drop(&t, REASON_DROP_SPOOF_IP);
	return from_ep_ipv4(skb, &t, ifc);
}
