/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Traffic on the uplink: replies of translated flows in, the node's own
 * flows out. */
#ifndef ENET_UPLINK_H
#define ENET_UPLINK_H

#include "common.h"
#include "config.h"
#include "ct.h"
#include "deliver.h"
#include "egress.h"
#include "endpoint.h"
#include "fib.h"
#include "icmp.h"
#include "l4.h"
#include "maps.h"
#include "nat.h"
#include "ports.h"
#include "stats.h"

/* up_translated delivers a packet that a NAT entry translated. */
__inline int up_translated(struct __sk_buff *skb, struct event *t, const struct nat_entry *e)
{
	if (e->flags & NAT_F_HOST)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	return deliver_ep(skb, t, v4_load(e->to.daddr),
			  (e->flags & NAT_F_REPLY) ? REASON_FWD_REPLY : REASON_FWD_DNAT);
}

/* up_published: the first packet of a flow to a published port. The
 * client's address is kept, as Docker's DNAT keeps it. A port published
 * on every address answers here on the uplink's. */
__inline int up_published(struct __sk_buff *skb, struct event *t, const struct config *cfg, const struct pkt *p)
{
	__be32 daddr = v4_load(p->tuple.daddr);
	struct port_target *port;
	struct endpoint *ep;
	struct ct_key to;
	int err;

	port = port_lookup_pkt(p->tuple.proto, daddr, p->tuple.dport, daddr == v4_load(cfg->snat_ip));
	if (!port)
		return ENET_CONTINUE;
	ep = endpoint_lookup(v4_load(port->addr));
	if (!ep)
		return ENET_CONTINUE;
	to = p->tuple;
	__builtin_memcpy(to.daddr, port->addr, 4);
	to.dport = port->port;
	err = flow_create(p, &to, ep->ifindex, CT_F_DNAT, 0);
	if (err)
		return drop(t, err == FLOW_TAKEN ? REASON_DROP_NAT_TAKEN : REASON_DROP_CT_FULL);
	if (nat_rewrite(skb, p, &to) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	return deliver_ep(skb, t, v4_load(to.daddr), REASON_FWD_DNAT);
}

/* up_untranslated: packets for an endpoint's own address reach it only on
 * networks that route instead of masquerade (as Docker's routed mode). */
__inline int up_untranslated(struct __sk_buff *skb, struct event *t, __be32 daddr)
{
	struct endpoint *ep = endpoint_lookup(daddr);
	struct network *net;

	if (!ep)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	net = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	if (!net || (net->flags & (NET_F_MASQUERADE | NET_F_INTERNAL)))
		return drop(t, REASON_DROP_DIRECT);
	return deliver_ep(skb, t, daddr, REASON_FWD_ROUTED);
}

/* from_up_ipv4 decides for an IPv4 packet that came in on the uplink. */
__inline int from_up_ipv4(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	__be32 daddr = ip->daddr;
	struct pkt p;

	if (!cfg)
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	if (pkt_parse(skb, ip, &p) < 0)
		return up_untranslated(skb, t, daddr);
	if (p.icmp_error) {
		e = icmp_error_xlate(skb, &p, now, 0);
		return e ? up_translated(skb, t, e) : up_untranslated(skb, t, daddr);
	}
	e = nat_find(&p, &ct, now, t->ifindex);
	if (!e) {
		int ret = up_published(skb, t, cfg, &p);

		return ret != ENET_CONTINUE ? ret : up_untranslated(skb, t, daddr);
	}
	ct_update(ct, cfg, &p, e->flags & NAT_F_REPLY, now);
	if (nat_rewrite(skb, &p, &e->to) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	return up_translated(skb, t, e);
}

/* host_opens: the packet may start a flow of the node's own, which may
 * then take another source port. A TCP packet other than a SYN belongs to
 * a connection already under way, an echo reply to someone else's ping. */
__inline int host_opens(const struct pkt *p)
{
	switch (p->tuple.proto) {
	case IPPROTO_TCP:
		return (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;
	case IPPROTO_UDP:
		return 1;
	}
	return p->icmp_type == ICMP_ECHO;
}

/* to_up_host records a flow of the node's own out of the uplink, so no
 * masqueraded flow is given its tuple. A flow the node opens (TCP connect,
 * UDP, echo request) whose port or echo id a masqueraded flow already
 * holds gets another one, as netfilter's NAT would do: kept, the replies
 * would go to the endpoint. */
__inline int to_up_host(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	struct pkt p;

	if (!cfg || ip->saddr != v4_load(cfg->snat_ip) || pkt_parse(skb, ip, &p) < 0 || p.icmp_error)
		return TC_ACT_OK;
	e = nat_find(&p, &ct, now, t->ifindex);
	if (e) {
		ct_update(ct, cfg, &p, e->flags & NAT_F_REPLY, now);
		if (nat_rewrite(skb, &p, &e->to) < 0)
			return drop(t, REASON_DROP_MALFORMED);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	if (!host_opens(&p)) {
		/* Anything else keeps its tuple, recorded if it is free. */
		flow_create(&p, &p.tuple, 0, CT_F_HOST, NAT_F_HOST);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	to = p.tuple;
	if (nat_create(&p, &to, 0, CT_F_HOST, NAT_F_HOST))
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (nat_rewrite(skb, &p, &to) < 0)
		return drop(t, REASON_DROP_MALFORMED);
	return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
}

#endif
