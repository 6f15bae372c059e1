// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//go:build ignore

/* enet_from_dfrg: tc ingress of the node side of the helper namespace's
 * veth, i.e. every fragment the helper sends back reassembled and cut
 * again in order (bpf/lib/frag.h). */

#include "lib/common.h"
#include "lib/defrag.h"
#include "lib/ipv4.h"
#include "lib/verdict.h"

SEC("tc")
int enet_from_dfrg(struct __sk_buff *skb)
{
	struct event t = { .ifindex = skb->ingress_ifindex, .len = skb->len, .hook = HOOK_FROM_DFRG };
	struct iphdr *ip = ipv4_parse(skb, &t);

	if (!ip)
		return verdict_drop(&t, REASON_DROP_MALFORMED);
	return defrag_return(skb, &t, ip);
}
