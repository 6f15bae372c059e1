/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The way back from the defragmentation helper (frag.h): the fragments of
 * a datagram its kernel reassembled and forwarded back, in order, cut
 * again as they came. */
#ifndef ENET_DEFRAG_H
#define ENET_DEFRAG_H

#include "common.h"
#include "config.h"
#include "frag.h"
#include "ipv4.h"
#include "maps.h"
#include "verdict.h"

/* defrag_return hands a fragment back to the uplink's ingress, where
 * enet_from_up translates it as if it had come so from the outside: with
 * the TTL it had before the helper forwarded it, and the mark that keeps
 * it from taking the detour again. The helper sends nothing else: its
 * gateway's MAC is a permanent neighbour entry, it has no IPv6, and no
 * datagram whose TTL would run out there is sent to it. */
static __always_inline int defrag_return(struct __sk_buff *skb, struct event *t, const struct iphdr *ip)
{
	const struct config *cfg = config_get();

	if (!cfg || !cfg->uplink_ifindex || !ipv4_is_fragment(ip) || ip->ttl == 0xff)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	if (ipv4_ttl_set(skb, ip->ttl, ip->ttl + 1) < 0)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	skb->mark = ENET_MARK_DEFRAG;
	verdict(t, REASON_FRAG_REASSEMBLED, cfg->uplink_ifindex, TC_ACT_OK);
	return bpf_redirect(cfg->uplink_ifindex, BPF_F_INGRESS);
}

#endif
