/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Traffic coming in on the uplink: replies of translated flows and new
 * flows to published ports go straight to their endpoint; everything
 * else is the node's. */
#ifndef ENET_FROM_UP_H
#define ENET_FROM_UP_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "deliver.h"
#include "flow.h"
#include "frag.h"
#include "icmp.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "nat.h"
#include "ports.h"
#include "tuple.h"
#include "verdict.h"

/* from_up_translated delivers a packet that a NAT entry (its flags) sent
 * to daddr. */
static __always_inline int from_up_translated(struct __sk_buff *skb, struct event *t, __u32 flags, __be32 daddr)
{
	if (flags & NAT_F_HOST)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	return deliver_endpoint(skb, t, daddr, (flags & NAT_F_REPLY) ? REASON_FWD_REPLY : REASON_FWD_DNAT);
}

/* from_up_published: the first packet of a flow to a published port. The
 * client's address is kept, as Docker's DNAT keeps it, and its port too
 * unless the reply tuple is taken: one client port to two host ports
 * published to the same endpoint port is two flows with the same reply,
 * and the second gets another source port, as netfilter's NAT gives it. A
 * port published on every address answers on any address of the node the
 * packet is sent to, as Docker's DNAT (--dst-type LOCAL) does. */
static __always_inline int from_up_published(struct __sk_buff *skb, struct event *t, const struct config *cfg, const struct pkt *p)
{
	__be32 daddr = ipv4_load(p->tuple.daddr);
	struct port_target *port;
	struct endpoint *ep;
	struct ct_key to;
	int err;

	if (p->fragment == PKT_FRAG_LATER || !ct_starts(p))
		return ENET_CONTINUE;
	port = ports_lookup_pkt(p->tuple.proto, daddr, p->tuple.dport, daddr == ipv4_load(cfg->snat_ip));
	if (!port)
		return ENET_CONTINUE;
	ep = lookup_endpoint(ipv4_load(port->addr));
	if (!ep)
		return verdict(t, REASON_DROP_ENDPOINT_GONE, 0, TC_ACT_OK);
	to = p->tuple;
	__builtin_memcpy(to.daddr, port->addr, 4);
	to.dport = port->port;
	err = nat_create(p, &to, ep->ifindex, CT_F_DNAT, 0);
	if (err)
		return verdict_drop(t, err);
	if (nat_rewrite(skb, t, p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return deliver_endpoint(skb, t, ipv4_load(to.daddr), REASON_FWD_DNAT);
}

/* from_up_untranslated: packets for an endpoint's own address reach it only on
 * networks that route instead of masquerade (as Docker's routed mode). */
static __always_inline int from_up_untranslated(struct __sk_buff *skb, struct event *t, __be32 daddr)
{
	struct endpoint *ep = lookup_endpoint(daddr);
	struct network *net;

	if (!ep)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	if (!net || (net->flags & (NET_F_MASQUERADE | NET_F_INTERNAL)))
		return verdict_drop(t, REASON_DROP_DIRECT);
	return deliver_endpoint(skb, t, daddr, REASON_FWD_ROUTED);
}

/* from_up_ipv4 decides for an IPv4 packet that came in on the uplink. */
static __always_inline int from_up_ipv4(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	__be32 daddr = ip->daddr;
	struct ct_key to;
	struct pkt p;
	int have, ret;
	__u32 flags;

	if (!cfg)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	have = tuple_parse(skb, ip, &p) == 0;
	if (have)
		event_tuple(t, &p.tuple);
	if (p.fragment) {
		ret = frag_step(skb, t, ip, &p, &have, cfg->defrag_ifindex);
		if (ret != ENET_CONTINUE)
			return ret;
	}
	if (!have)
		return from_up_untranslated(skb, t, daddr);
	if (p.icmp_error) {
		e = icmp_error_xlate(skb, &p, now, 0);
		return e ? from_up_translated(skb, t, e->flags, ipv4_load(e->to.daddr)) : from_up_untranslated(skb, t, daddr);
	}
	e = nat_find(&p, &ct, now, t->ifindex);
	if (!e) {
		ret = from_up_published(skb, t, cfg, &p);
		return ret != ENET_CONTINUE ? ret : from_up_untranslated(skb, t, daddr);
	}
	to = e->to;
	flags = e->flags;
	flow_update(e, ct, &p, now, t->ifindex);
	if (nat_rewrite(skb, t, &p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return from_up_translated(skb, t, flags, ipv4_load(to.daddr));
}

#endif
