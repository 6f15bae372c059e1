/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the node sends into a network's bridge: its own flows to the
 * network's endpoints from the gateway's address, recorded as enet_to_up
 * records those out of the uplink. A hairpin flow takes the gateway as
 * its source, and must never be given the tuple of a connection of the
 * node's own to the same endpoint, nor the other way round: the
 * endpoint's replies to one would go to the other. */
#ifndef ENET_TO_BR_H
#define ENET_TO_BR_H

#include "common.h"
#include "host.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "tuple.h"

/* to_br_hairpins: a protocol a port can be published for, so a hairpin
 * flow's. */
static __always_inline int to_br_hairpins(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

static __always_inline int to_br_ipv4(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	struct endpoint *ep = lookup_endpoint(ip->daddr);
	struct network *net;
	struct pkt p;

	if (!ep || !to_br_hairpins(ip->protocol))
		return TC_ACT_OK;
	net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	/* Hairpin flows come from the gateway, and never on an internal
	 * network. */
	if (!net || (net->flags & NET_F_INTERNAL) || ip->saddr != ipv4_load(net->gateway))
		return TC_ACT_OK;
	/* A later fragment has no port to translate. */
	if (tuple_parse(skb, ip, &p) < 0 || p.fragment == PKT_FRAG_LATER)
		return TC_ACT_OK;
	event_tuple(t, &p.tuple);
	return host_flow(skb, t, &p, bpf_ktime_get_ns(), ep->ifindex);
}

#endif
