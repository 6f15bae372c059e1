/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the kernel sends out of the uplink: the node's own traffic,
 * recorded so masquerade never hands its ports to an endpoint's flow; the
 * kernel's ICMP errors about translated flows; and endpoints' packets the
 * kernel routed itself, translated here. */
#ifndef ENET_TO_UP_H
#define ENET_TO_UP_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "flow.h"
#include "host.h"
#include "icmp.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "nat.h"
#include "tuple.h"
#include "verdict.h"

/* to_up_untranslated: an endpoint's packet about to leave as the kernel
 * forwarded it, with no translation. Routed networks' endpoints may leave
 * with their own address; a masquerading or internal network's must
 * never: that address means nothing outside, and replies to it would be
 * dropped (drop-direct-access) anyway. */
static __always_inline int to_up_untranslated(struct event *t, const struct endpoint *ep)
{
	struct network *net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);

	if (net && !(net->flags & (NET_F_MASQUERADE | NET_F_INTERNAL)))
		return TC_ACT_OK;
	return verdict_drop(t, REASON_DROP_UNTRANSLATED);
}

/* to_up_endpoint translates an endpoint's packet that the kernel routed
 * (enet_from_ep left it untranslated, its next hop unresolved) by its
 * flow's entry, which enet_from_ep wrote and accounted the packet in. */
static __always_inline int to_up_endpoint(struct __sk_buff *skb, struct event *t, const struct endpoint *ep,
					  const struct pkt *p, __u64 now)
{
	struct ct_entry *ct = NULL;
	struct nat_entry *e = nat_find(p, &ct, now, t->ifindex);

	if (!e || (e->flags & NAT_F_HOST))
		return to_up_untranslated(t, ep);
	if (nat_rewrite(skb, t, p, &e->to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return verdict(t, (e->flags & NAT_F_REPLY) ? REASON_FWD_REPLY : REASON_FWD_SNAT, 0, TC_ACT_OK);
}

/* to_up_ipv4 decides for an IPv4 packet the kernel sends out of the
 * uplink. An ICMP error the kernel sends about a packet it got translated
 * (a published port's or a reply's, whose TTL ran out at the node) quotes
 * the packet as translated and is translated back here, as netfilter
 * translates it, or traceroute and PMTU discovery see an address that is
 * not theirs. */
static __always_inline int to_up_ipv4(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct endpoint *ep = NULL;
	__be32 saddr = ip->saddr;
	struct pkt p;

	if (!cfg)
		return TC_ACT_OK;
	if (saddr != ipv4_load(cfg->snat_ip)) {
		ep = lookup_endpoint(saddr);
		/* Forwarded for others: only ICMP errors can be ours. */
		if (!ep && ip->protocol != IPPROTO_ICMP)
			return TC_ACT_OK;
	}
	if (tuple_parse(skb, ip, &p) < 0)
		return ep ? to_up_untranslated(t, ep) : TC_ACT_OK;
	event_tuple(t, &p.tuple);
	if (p.icmp_error) {
		if (icmp_error_xlate(skb, &p, now, ep ? saddr : 0))
			return verdict(t, REASON_FWD_ICMP_ERROR, 0, TC_ACT_OK);
		return ep ? to_up_untranslated(t, ep) : TC_ACT_OK;
	}
	if (ep)
		return to_up_endpoint(skb, t, ep, &p, now);
	if (saddr != ipv4_load(cfg->snat_ip))
		return TC_ACT_OK;
	return host_flow(skb, t, &p, now, 0);
}

#endif
