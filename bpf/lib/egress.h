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
#include "lookup.h"
#include "maps.h"
#include "nat.h"
#include "tuple.h"
#include "verdict.h"

/* egress_fib_verdict turns a routing result other than "out of the uplink" into
 * the packet's fate, or ENET_CONTINUE. */
static __always_inline int egress_fib_verdict(struct __sk_buff *skb, struct event *t, const struct network *net, int res, int masq)
{
	switch (res) {
	case FIB_OUT_STACK:
	case FIB_OUT_LOCAL:
		return bridge_pass(skb, t, net);
	case FIB_OUT_ELSEWHERE:
		/* Only the uplink translates: the kernel would forward it
		 * with the endpoint's own address. */
		if (masq)
			return verdict_drop(t, REASON_DROP_NO_ROUTE);
		return bridge_pass(skb, t, net);
	case FIB_OUT_TOO_BIG:
		return verdict_drop(t, REASON_DROP_TOO_BIG);
	}
	return ENET_CONTINUE;
}

/* egress_unresolved hands a packet whose next hop the neighbour table has
 * not resolved to the bridge, untranslated, so the kernel routes it as it
 * would without ebpfnet: it resolves the neighbour, or answers the
 * endpoint with host unreachable once that fails, which
 * bpf_redirect_neigh never does. enet_to_up translates it on its way out
 * by the flow's entry, which must be written first. */
static __always_inline int egress_unresolved(struct __sk_buff *skb, struct event *t, const struct network *net)
{
	return bridge_pass_as(skb, t, net, REASON_TO_BRIDGE_UNRESOLVED);
}

/* egress_to_kernel says whether a packet to translate goes to the kernel
 * (egress_unresolved) rather than out translated. Not a fragment:
 * enet_to_up could not tell a later one's ports, so a fragmented datagram
 * leaves translated with bpf_redirect_neigh, which resolves the next hop
 * too but drops the datagram without a word if it never resolves. */
static __always_inline int egress_to_kernel(int res, const struct pkt *p)
{
	return res == FIB_OUT_NO_NEIGH && p->fragment == PKT_FRAG_NONE;
}

static __always_inline int egress_send(struct __sk_buff *skb, struct event *t, struct bpf_fib_lookup *fib, int res,
		      __u8 ttl, __u32 reason)
{
	if (ipv4_ttl_dec(skb, ttl) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	verdict_count(t->ifindex, reason, t->len);
	verdict_emit(t, reason, fib->ifindex);
	return fib_redirect_out(skb, fib, res);
}

/* egress_translated sends a packet of a known flow as *to says: into the
 * endpoint that owns the new destination, or out of the uplink. The route
 * is the kernel's for the packet from the endpoint's own address, so
 * source policy rules hold as they would with netfilter, which routes
 * before it masquerades; it is looked up before the rewrite, so what the
 * kernel gets back is never half translated. */
static __always_inline int egress_translated(struct __sk_buff *skb, struct event *t, const struct network *net,
				const struct pkt *p, const struct ct_key *to, __u32 reason)
{
	const struct config *cfg = config_get();
	struct bpf_fib_lookup fib;
	struct iphdr *ip = ipv4_hdr(skb);
	int res, ret;
	__u8 ttl;

	if (!cfg || !ip || ip->ttl <= 1)
		return bridge_pass(skb, t, net);
	ttl = ip->ttl;
	if (lookup_endpoint(ipv4_load(to->daddr))) {
		if (nat_rewrite(skb, t, p, to) < 0)
			return verdict_drop(t, REASON_DROP_MALFORMED);
		return deliver_endpoint(skb, t, ipv4_load(to->daddr), REASON_FWD_HAIRPIN);
	}
	res = fib_out_lookup(skb, ip, ip->saddr, ipv4_load(to->daddr), cfg, &fib);
	ret = egress_fib_verdict(skb, t, net, res, 1);
	if (ret != ENET_CONTINUE)
		return ret;
	if (egress_to_kernel(res, p))
		return egress_unresolved(skb, t, net);
	if (nat_rewrite(skb, t, p, to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return egress_send(skb, t, &fib, res, ttl, reason);
}

/* egress_internal: an internal network has no path out, but, as with Docker,
 * its endpoints reach the node's own addresses. */
static __always_inline int egress_internal(struct __sk_buff *skb, struct event *t, const struct network *net,
			  const struct iphdr *ip, const struct config *cfg)
{
	struct bpf_fib_lookup fib;

	if (cfg && fib_out_lookup(skb, ip, ip->saddr, ip->daddr, cfg, &fib) == FIB_OUT_LOCAL)
		return bridge_pass(skb, t, net);
	return verdict_drop(t, REASON_DROP_INTERNAL);
}

/* egress_outside handles a packet for beyond every subnet that belongs
 * to no known flow. It is routed from the endpoint's own address, as the
 * kernel routes it: rules on the source hold, and a route that prohibits,
 * is unreachable or a blackhole leaves the packet to the kernel, which
 * answers as it would. */
static __always_inline int egress_outside(struct __sk_buff *skb, struct event *t, const struct network *net,
			     const struct pkt *p, int have_tuple)
{
	const struct config *cfg = config_get();
	int masq = net->flags & NET_F_MASQUERADE;
	struct bpf_fib_lookup fib;
	struct iphdr *ip;
	struct ct_key to;
	int res, ret;
	__u8 ttl;

	ip = ipv4_hdr(skb);
	if (!ip)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	if (net->flags & NET_F_INTERNAL)
		return egress_internal(skb, t, net, ip, cfg);
	/* Without an uplink the kernel routes as it would without ebpfnet;
	 * at TTL 1 it answers with time exceeded. */
	if (!cfg || !cfg->uplink_ifindex || ip->ttl <= 1)
		return bridge_pass(skb, t, net);
	ttl = ip->ttl;
	res = fib_out_lookup(skb, ip, ip->saddr, ip->daddr, cfg, &fib);
	ret = egress_fib_verdict(skb, t, net, res, masq);
	if (ret != ENET_CONTINUE)
		return ret;
	if (!masq) {
		if (res == FIB_OUT_NO_NEIGH)
			return egress_unresolved(skb, t, net);
		return egress_send(skb, t, &fib, res, ttl, REASON_FWD_ROUTED);
	}
	/* Only a first fragment starts a flow: a later one whose flow is
	 * gone, or never was, has nothing to follow. */
	if (p->fragment == PKT_FRAG_LATER)
		return verdict_drop(t, REASON_DROP_FRAGMENT);
	if (!have_tuple)
		return verdict_drop(t, REASON_DROP_NAT_PROTO);
	if (p->icmp_error)
		return verdict_drop(t, REASON_DROP_NO_FLOW);
	if (!ct_starts(p))
		return verdict_drop(t, REASON_DROP_TCP_NO_FLOW);
	to = p->tuple;
	__builtin_memcpy(to.saddr, cfg->snat_ip, 4);
	ret = nat_create(p, &to, skb->ingress_ifindex, CT_F_SNAT, 0);
	if (ret)
		return verdict_drop(t, ret);
	if (egress_to_kernel(res, p))
		return egress_unresolved(skb, t, net);
	if (nat_rewrite(skb, t, p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return egress_send(skb, t, &fib, res, ttl, REASON_FWD_SNAT);
}

#endif
