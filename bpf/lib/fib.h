/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Routing decisions the datapath takes itself: out of the uplink with the
 * kernel's FIB and neighbour table. */
#ifndef ENET_FIB_H
#define ENET_FIB_H

#include "common.h"
#include "eth.h"
#include "ipv4.h"
#include "maps.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* Packets the datapath redirected out of the uplink or into a bridge
 * carry this mark, so enet_to_up and enet_to_br tell them from the
 * node's own. */
#define ENET_MARK_OUT 0x454e0000

/* fib_sent_by_us is the start of an egress program (enet_to_up,
 * enet_to_br): a packet a datapath program redirected here is translated
 * already, and its mark is cleared; anything else is the node's or the
 * kernel's to look at. */
static __always_inline int fib_sent_by_us(struct __sk_buff *skb)
{
	if (skb->mark != ENET_MARK_OUT)
		return 0;
	skb->mark = 0;
	return 1;
}

/* Results of fib_out_lookup. */
enum fib_out {
	FIB_OUT_UPLINK,		/* route via the uplink; params hold MACs or next hop */
	FIB_OUT_NO_NEIGH,	/* via the uplink, next hop not resolved yet */
	FIB_OUT_STACK,		/* unreachable, or too big with DF: the kernel drops
				 * it and answers with ICMP */
	FIB_OUT_LOCAL,		/* an address of the node: the kernel delivers it */
	FIB_OUT_ELSEWHERE,	/* forwarded, but not via the uplink */
	FIB_OUT_TOO_BIG,	/* too big for the uplink, and fragmenting is allowed */
};

/* fib_out_lookup asks the kernel's FIB where a packet from src that came
 * in on the endpoint's veth goes, rules on source and input included. The
 * length is left to the kernel (tot_len 0), which checks GSO packets by
 * their segments rather than their total size. */
static __always_inline int fib_out_lookup(struct __sk_buff *skb, const struct iphdr *ip, __be32 src, __be32 dst,
			    const struct config *cfg, struct bpf_fib_lookup *fib)
{
	int df = (ip->frag_off & bpf_htons(0x4000)) != 0;
	long rc;

	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = AF_INET;
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->ipv4_src = src;
	fib->ipv4_dst = dst;
	fib->ifindex = skb->ingress_ifindex;
	rc = bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		if (fib->ifindex != cfg->uplink_ifindex)
			return FIB_OUT_ELSEWHERE;
		return rc == BPF_FIB_LKUP_RET_SUCCESS ? FIB_OUT_UPLINK : FIB_OUT_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return df ? FIB_OUT_STACK : FIB_OUT_TOO_BIG;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return FIB_OUT_LOCAL;
	}
	return FIB_OUT_STACK;
}

/* fib_redirect_out sends a packet whose route fib_out_lookup found out of the
 * uplink's egress. An unresolved next hop is left to bpf_redirect_neigh,
 * which drops the packet silently if it never resolves: only packets
 * that cannot go to the kernel untranslated come here with one. */
static __always_inline long fib_redirect_out(struct __sk_buff *skb, struct bpf_fib_lookup *fib, int res)
{
	skb->mark = ENET_MARK_OUT;
	if (res == FIB_OUT_NO_NEIGH) {
		struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = fib->ipv4_dst };

		return bpf_redirect_neigh(fib->ifindex, &nh, sizeof(nh), 0);
	}
	if (eth_set_macs(skb, fib->smac, fib->dmac) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect(fib->ifindex, 0);
}

#endif
