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
#include "icmp.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "nat.h"
#include "tuple.h"
#include "verdict.h"

/* to_up_opens: the packet may start a flow of the node's own, which may
 * then take another source port. A TCP packet other than a SYN belongs to
 * a connection already under way, an ICMP query reply to someone else's
 * query; any packet of the other protocols may be a flow's first. */
static __always_inline int to_up_opens(const struct pkt *p)
{
	switch (p->tuple.proto) {
	case IPPROTO_TCP:
		return (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;
	case IPPROTO_ICMP:
		return tuple_icmp_query(p->icmp_type) > 0;
	}
	return 1;
}

/* to_up_host records a flow of the node's own out of the uplink, so no
 * masqueraded flow is given its tuple. A flow the node opens (TCP connect,
 * UDP, ICMP query, GRE, ...) whose port or query id a masqueraded flow
 * already holds gets another one, as netfilter's NAT would do: kept, the
 * replies would go to the endpoint. One that has no port to change is
 * dropped, as netfilter drops it. */
static __always_inline int to_up_host(struct __sk_buff *skb, struct event *t, const struct config *cfg,
				      struct pkt *p, __u64 now)
{
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	int err;

	e = nat_find(p, &ct, now, t->ifindex);
	if (e) {
		to = e->to;
		flow_update(e, ct, p, now, t->ifindex);
		if (nat_rewrite(skb, p, &to) < 0)
			return verdict_drop(t, REASON_DROP_MALFORMED);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	/* A RST, FIN or SYN-ACK (the node refusing or answering a port
	 * scan's SYN) holds no port worth keeping. */
	if (!ct_starts(p))
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (!to_up_opens(p)) {
		/* Anything else keeps its tuple, recorded if it is free. */
		flow_create(p, &p->tuple, 0, CT_F_HOST, NAT_F_HOST);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	to = p->tuple;
	err = nat_create(p, &to, 0, CT_F_HOST, NAT_F_HOST);
	/* Sent anyway, the replies of a flow whose tuple an endpoint's flow
	 * holds would go to that endpoint. */
	if (err == REASON_DROP_NAT_CLASH)
		return verdict_drop(t, err);
	if (err)
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (nat_rewrite(skb, p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
}

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
	if (nat_rewrite(skb, p, &e->to) < 0)
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
	if (p.icmp_error) {
		if (icmp_error_xlate(skb, &p, now, ep ? saddr : 0))
			return verdict(t, REASON_FWD_ICMP_ERROR, 0, TC_ACT_OK);
		return ep ? to_up_untranslated(t, ep) : TC_ACT_OK;
	}
	if (ep)
		return to_up_endpoint(skb, t, ep, &p, now);
	if (saddr != ipv4_load(cfg->snat_ip))
		return TC_ACT_OK;
	return to_up_host(skb, t, cfg, &p, now);
}

#endif
