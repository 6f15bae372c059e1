/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's own flows, recorded where they leave it (enet_to_up on the
 * uplink, enet_to_br into a bridge) so that no translated flow is given
 * their tuple: netfilter keeps the node's connections in the table its
 * NAT picks tuples from, and so must we. */
#ifndef ENET_HOST_H
#define ENET_HOST_H

#include "common.h"
#include "ct.h"
#include "flow.h"
#include "nat.h"
#include "tuple.h"
#include "verdict.h"

/* host_opens: the packet may start a flow of the node's own, which may
 * then take another source port. A TCP packet other than a SYN belongs to
 * a connection already under way, an ICMP query reply to someone else's
 * query; any packet of the other protocols may be a flow's first. */
static __always_inline int host_opens(const struct pkt *p)
{
	switch (p->tuple.proto) {
	case IPPROTO_TCP:
		return (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN;
	case IPPROTO_ICMP:
		return tuple_icmp_query(p->icmp_type) > 0;
	}
	return 1;
}

/* host_flow records a flow of the node's own, so no translated flow is
 * given its tuple. A flow the node opens (TCP connect, UDP, ICMP query,
 * GRE, ...) whose port or query id a translated flow already holds gets
 * another one, as netfilter's NAT would do: kept, the replies would go to
 * the endpoint. One that has no port to change is dropped, as netfilter
 * drops it. ifindex is the host veth of the endpoint the flow goes to, so
 * the flow goes with the endpoint; 0 out of the uplink. */
static __always_inline int host_flow(struct __sk_buff *skb, struct event *t, struct pkt *p, __u64 now,
				     __u32 ifindex)
{
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	int err;

	e = nat_find(p, &ct, now, t->ifindex);
	if (e) {
		to = e->to;
		flow_update(e, ct, p, now, t->ifindex);
		if (nat_rewrite(skb, t, p, &to) < 0)
			return verdict_drop(t, REASON_DROP_MALFORMED);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	/* A RST, FIN or SYN-ACK (the node refusing or answering a port
	 * scan's SYN) holds no port worth keeping. */
	if (!ct_starts(p))
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (!host_opens(p)) {
		/* Anything else keeps its tuple, recorded if it is free. */
		flow_create(p, &p->tuple, ifindex, CT_F_HOST, NAT_F_HOST);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	to = p->tuple;
	err = nat_create(p, &to, ifindex, CT_F_HOST, NAT_F_HOST);
	/* Sent anyway, the replies of a flow whose tuple an endpoint's flow
	 * holds would go to that endpoint. */
	if (err == REASON_DROP_NAT_CLASH)
		return verdict_drop(t, err);
	if (err)
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (nat_rewrite(skb, t, p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
}

#endif
