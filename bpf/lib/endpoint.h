/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Decisions for traffic leaving an endpoint, seen at tc ingress of its
 * host-side veth. */
#ifndef ENET_ENDPOINT_H
#define ENET_ENDPOINT_H

#include "bridge.h"
#include "common.h"
#include "egress.h"
#include "eth.h"
#include "ipv4.h"
#include "maps.h"
#include "stats.h"

__inline struct endpoint *endpoint_lookup(__be32 addr)
{
	struct ep_key key = { .family = ENET_AF_INET };

	v4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_endpoints, &key);
}

__inline struct subnet *subnet_lookup(__be32 addr)
{
	struct subnet_key key = { .prefixlen = 32 };

	v4_store(key.addr, addr);
	return bpf_map_lookup_elem(&enet_subnets, &key);
}

/* from_ep_arp: ARP goes to the bridge once its sender is the endpoint. */
__inline int from_ep_arp(struct __sk_buff *skb, struct event *t, const struct iface *ifc)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct arp_eth4 *arp = data + sizeof(struct ethhdr);

	if ((void *)(arp + 1) > end)
		return drop(t, REASON_DROP_MALFORMED);
	if (!arp_sender_ok(arp, ifc->mac, v4_load(ifc->ip4)))
		return drop(t, REASON_DROP_SPOOF_IP);
	return verdict(t, REASON_TO_BRIDGE, 0, TC_ACT_OK);
}

/* deliver_peer hands the packet straight to the destination endpoint's
 * eth0, skipping the bridge and the host stack. */
__inline int deliver_peer(struct __sk_buff *skb, struct event *t, const struct endpoint *ep)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return drop(t, REASON_DROP_MALFORMED);
	mac_copy(eth->h_dest, ep->mac);
	count(t->ifindex, REASON_FWD_PEER, t->len);
	emit(t, REASON_FWD_PEER, ep->ifindex);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* other_network: another network's gateway is an address of the node,
 * which endpoints may reach as Docker's containers reach any host address;
 * the rest of that network is isolated. */
__inline int other_network(struct __sk_buff *skb, struct event *t, const struct network *net,
			   const struct subnet *sub, __be32 daddr)
{
	struct network *other = bpf_map_lookup_elem(&enet_networks, &sub->net_id);

	if (other && v4_load(other->gateway) == daddr)
		return to_bridge(skb, t, net);
	return drop(t, REASON_DROP_ISOLATION);
}

/* from_ep_ipv4 decides for an IPv4 packet whose source was checked. */
__inline int from_ep_ipv4(struct __sk_buff *skb, struct event *t, const struct iface *ifc)
{
	struct network *net = bpf_map_lookup_elem(&enet_networks, &ifc->net_id);
	__be32 daddr = v4_load(t->daddr);
	struct endpoint *ep;
	struct subnet *sub;

	if (!net)
		return drop(t, REASON_DROP_NO_IFACE);
	if (ipv4_is_bcast_mcast(daddr, v4_load(net->subnet), net->prefixlen)) {
		if (!(net->flags & NET_F_ICC))
			return drop(t, REASON_DROP_ICC);
		return verdict(t, REASON_TO_BRIDGE, 0, TC_ACT_OK);
	}
	ep = endpoint_lookup(daddr);
	if (ep) {
		if (ep->net_id != ifc->net_id)
			return drop(t, REASON_DROP_ISOLATION);
		if (!(net->flags & NET_F_ICC))
			return drop(t, REASON_DROP_ICC);
		return deliver_peer(skb, t, ep);
	}
	sub = subnet_lookup(daddr);
	if (sub && sub->net_id != ifc->net_id)
		return other_network(skb, t, net, sub, daddr);
	if (!sub)
		return from_ep_outside(skb, t, net);
	/* The gateway, or another host on the subnet: the bridge. */
	return to_bridge(skb, t, net);
}

#endif
