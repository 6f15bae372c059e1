/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* An endpoint's traffic to beyond every subnet: routed out of the uplink
 * by the datapath itself, masqueraded to the uplink's address unless the
 * network says masquerade=false. Nothing of it goes through netfilter. */
#ifndef ENET_EGRESS_H
#define ENET_EGRESS_H

#include "bridge.h"
#include "common.h"
#include "ct.h"
#include "fib.h"
#include "icmp.h"
#include "ipv4.h"
#include "l4.h"
#include "maps.h"
#include "nat.h"
#include "stats.h"

/* egress_xlate translates an outbound packet: as its flow already is, or
 * as a new masqueraded flow. *src is its source after translation. Returns
 * 0 or a drop reason. */
__inline int egress_xlate(struct __sk_buff *skb, const struct iphdr *ip, const struct config *cfg,
			  int masq, __be32 *src)
{
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	struct pkt p;
	int err;

	*src = ip->saddr;
	if (pkt_parse(skb, ip, &p) < 0) {
		if (!masq)
			return 0;
		return p.fragment ? REASON_DROP_FRAGMENT : REASON_DROP_NAT_PROTO;
	}
	if (p.icmp_error) {
		e = icmp_error_xlate(skb, &p, now);
		if (e)
			*src = v4_load(e->to.saddr);
		return e || !masq ? 0 : REASON_DROP_NO_FLOW;
	}
	e = nat_find(&p, &ct, now);
	if (e) {
		to = e->to;
		ct_update(ct, cfg, &p, e->flags & NAT_F_REPLY, now);
	} else if (masq) {
		err = snat_create(&p, v4_load(cfg->snat_ip), skb->ingress_ifindex, CT_F_SNAT, 0, &to);
		if (err)
			return err;
	} else {
		return 0;
	}
	*src = v4_load(to.saddr);
	return nat_rewrite(skb, &p, &to) < 0 ? REASON_DROP_MALFORMED : 0;
}

/* from_ep_outside handles a packet for beyond every subnet. */
__inline int from_ep_outside(struct __sk_buff *skb, struct event *t, const struct network *net)
{
	const struct config *cfg = config_get();
	int masq = net->flags & NET_F_MASQUERADE;
	struct bpf_fib_lookup fib;
	struct iphdr *ip;
	__be32 src;
	int res, err;
	__u8 ttl;

	if (net->flags & NET_F_INTERNAL)
		return drop(t, REASON_DROP_INTERNAL);
	ip = ipv4_hdr(skb);
	if (!ip)
		return drop(t, REASON_DROP_MALFORMED);
	/* Without an uplink, or for the node's own addresses, the kernel
	 * routes as it would without ebpfnet. */
	if (!cfg || !cfg->uplink_ifindex || ip->ttl <= 1)
		return to_bridge(skb, t, net);
	ttl = ip->ttl;
	res = fib_out_lookup(skb, ip, masq ? v4_load(cfg->snat_ip) : ip->saddr, cfg, &fib);
	switch (res) {
	case FIB_OUT_STACK:
		return to_bridge(skb, t, net);
	case FIB_OUT_ELSEWHERE:
		/* Only the uplink masquerades: the kernel would forward it
		 * with the endpoint's own address. */
		if (masq)
			return drop(t, REASON_DROP_NO_ROUTE);
		return to_bridge(skb, t, net);
	case FIB_OUT_TOO_BIG:
		return drop(t, REASON_DROP_TOO_BIG);
	}
	err = egress_xlate(skb, ip, cfg, masq, &src);
	if (err)
		return drop(t, err);
	if (ipv4_ttl_dec(skb, ttl) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	count(t->ifindex, masq ? REASON_FWD_SNAT : REASON_FWD_ROUTED, t->len);
	emit(t, masq ? REASON_FWD_SNAT : REASON_FWD_ROUTED, fib.ifindex);
	return redirect_out(skb, &fib, res);
}

#endif
