/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* An endpoint's traffic that leaves its network: routed out of the uplink
 * by the datapath itself (masqueraded to the uplink's address unless the
 * network says masquerade=false), or translated back into an endpoint for
 * hairpin flows. Nothing of it goes through netfilter. */
#ifndef ENET_EGRESS_H
#define ENET_EGRESS_H

#include "bridge.h"
#include "common.h"
#include "config.h"
#include "ct.h"
#include "deliver.h"
#include "fib.h"
#include "ipv4.h"
#include "l4.h"
#include "maps.h"
#include "nat.h"
#include "stats.h"

/* Returned by the steps below when they leave the packet to the next. */
#define ENET_CONTINUE (-2)

/* fib_verdict turns a routing result other than "out of the uplink" into
 * the packet's fate, or ENET_CONTINUE. */
__inline int fib_verdict(struct __sk_buff *skb, struct event *t, const struct network *net, int res, int masq)
{
	switch (res) {
	case FIB_OUT_STACK:
		return to_bridge(skb, t, net);
	case FIB_OUT_ELSEWHERE:
		/* Only the uplink translates: the kernel would forward it
		 * with the endpoint's own address. */
		if (masq)
			return drop(t, REASON_DROP_NO_ROUTE);
		return to_bridge(skb, t, net);
	case FIB_OUT_TOO_BIG:
		return drop(t, REASON_DROP_TOO_BIG);
	}
	return ENET_CONTINUE;
}

__inline int send_out(struct __sk_buff *skb, struct event *t, struct bpf_fib_lookup *fib, int res,
		      __u8 ttl, __u32 reason)
{
	if (ipv4_ttl_dec(skb, ttl) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	count(t->ifindex, reason, t->len);
	emit(t, reason, fib->ifindex);
	return redirect_out(skb, fib, res);
}

/* from_ep_translated sends a packet of a known flow as *to says: into the
 * endpoint that owns the new destination, or out of the uplink. The route
 * is looked up before the rewrite, so what the kernel gets back is never
 * half translated. */
__inline int from_ep_translated(struct __sk_buff *skb, struct event *t, const struct network *net,
				const struct pkt *p, const struct ct_key *to, __u32 reason)
{
	const struct config *cfg = config_get();
	struct bpf_fib_lookup fib;
	struct iphdr *ip = ipv4_hdr(skb);
	int res, ret;
	__u8 ttl;

	if (!cfg || !ip || ip->ttl <= 1)
		return to_bridge(skb, t, net);
	ttl = ip->ttl;
	if (endpoint_lookup(v4_load(to->daddr))) {
		if (nat_rewrite(skb, p, to) < 0)
			return drop(t, REASON_DROP_MALFORMED);
		return deliver_ep(skb, t, v4_load(to->daddr), REASON_FWD_HAIRPIN);
	}
	res = fib_out_lookup(skb, ip, v4_load(to->saddr), v4_load(to->daddr), cfg, &fib);
	ret = fib_verdict(skb, t, net, res, 1);
	if (ret != ENET_CONTINUE)
		return ret;
	if (nat_rewrite(skb, p, to) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	return send_out(skb, t, &fib, res, ttl, reason);
}

/* from_ep_outside handles a packet for beyond every subnet that belongs
 * to no known flow. */
__inline int from_ep_outside(struct __sk_buff *skb, struct event *t, const struct network *net,
			     const struct pkt *p, int have_tuple)
{
	const struct config *cfg = config_get();
	int masq = net->flags & NET_F_MASQUERADE;
	struct bpf_fib_lookup fib;
	struct iphdr *ip;
	struct ct_key to;
	__be32 src;
	int res, ret;
	__u8 ttl;

	if (net->flags & NET_F_INTERNAL)
		return drop(t, REASON_DROP_INTERNAL);
	ip = ipv4_hdr(skb);
	if (!ip)
		return drop(t, REASON_DROP_MALFORMED);
	/* Without an uplink the kernel routes as it would without ebpfnet;
	 * at TTL 1 it answers with time exceeded. */
	if (!cfg || !cfg->uplink_ifindex || ip->ttl <= 1)
		return to_bridge(skb, t, net);
	ttl = ip->ttl;
	src = masq ? v4_load(cfg->snat_ip) : ip->saddr;
	res = fib_out_lookup(skb, ip, src, ip->daddr, cfg, &fib);
	ret = fib_verdict(skb, t, net, res, masq);
	if (ret != ENET_CONTINUE)
		return ret;
	if (!masq)
		return send_out(skb, t, &fib, res, ttl, REASON_FWD_ROUTED);
	if (!have_tuple)
		return drop(t, p->fragment ? REASON_DROP_FRAGMENT : REASON_DROP_NAT_PROTO);
	if (p->icmp_error)
		return drop(t, REASON_DROP_NO_FLOW);
	to = p->tuple;
	v4_store(to.saddr, src);
	ret = nat_create(p, &to, skb->ingress_ifindex, CT_F_SNAT, 0);
	if (ret)
		return drop(t, ret);
	if (nat_rewrite(skb, p, &to) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	return send_out(skb, t, &fib, res, ttl, REASON_FWD_SNAT);
}

#endif
