/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The node's own traffic going out of the uplink, recorded so
 * masquerade never hands its ports to an endpoint's flow. */
#ifndef ENET_TO_UP_H
#define ENET_TO_UP_H

#include "common.h"
#include "config.h"
#include "flow.h"
#include "ipv4.h"
#include "maps.h"
#include "nat.h"
#include "tuple.h"
#include "verdict.h"

/* to_up_opens: the packet may start a flow of the node's own, which may
 * then take another source port. A TCP packet other than a SYN belongs to
 * a connection already under way, an echo reply to someone else's ping. */
static __always_inline int to_up_opens(const struct pkt *p)
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
static __always_inline int to_up_host(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	struct pkt p;

	if (!cfg || ip->saddr != ipv4_load(cfg->snat_ip) || tuple_parse(skb, ip, &p) < 0 || p.icmp_error)
		return TC_ACT_OK;
	e = nat_find(&p, &ct, now, t->ifindex);
	if (e) {
		to = e->to;
		flow_update(e, ct, &p, now, t->ifindex);
		if (nat_rewrite(skb, &p, &to) < 0)
			return verdict_drop(t, REASON_DROP_MALFORMED);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	/* A RST, FIN or SYN-ACK (the node refusing or answering a port
	 * scan's SYN) holds no port worth keeping. */
	if (!ct_starts(&p))
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (!to_up_opens(&p)) {
		/* Anything else keeps its tuple, recorded if it is free. */
		flow_create(&p, &p.tuple, 0, CT_F_HOST, NAT_F_HOST);
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	}
	to = p.tuple;
	if (nat_create(&p, &to, 0, CT_F_HOST, NAT_F_HOST))
		return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
	if (nat_rewrite(skb, &p, &to) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	return verdict(t, REASON_HOST_FLOW, 0, TC_ACT_OK);
}

#endif
