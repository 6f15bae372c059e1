/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: per-flow state and expiry in enet_ct. A flow whose
 * expiry has passed is dead for the datapath at once; the daemon's GC
 * removes it from the maps later. */
#ifndef ENET_CT_H
#define ENET_CT_H

#include "common.h"
#include "tuple.h"
#include "maps.h"

#define NSEC_PER_SEC 1000000000ULL

/* ct_timeout is how long a flow lives after its last packet. The other
 * protocols with ports (UDP-Lite, DCCP, SCTP) have no state tracked here
 * and live as UDP flows do; an idle SCTP association's heartbeats (every
 * 30 s) keep its flow. Those without ports take netfilter's generic
 * timeout. */
static __always_inline __u64 ct_timeout(const struct config *cfg, const struct ct_entry *ct, __u8 proto)
{
	__u32 s;

	switch (proto) {
	case IPPROTO_TCP:
		if (ct->state == CT_ESTABLISHED)
			s = cfg->timeout_established;
		else if (ct->state == CT_CLOSING)
			s = cfg->timeout_closing;
		else
			s = cfg->timeout_syn;
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
	case IPPROTO_SCTP:
		s = (ct->flags & CT_F_SEEN_REPLY) ? cfg->timeout_udp_stream : cfg->timeout_udp;
		break;
	case IPPROTO_ICMP:
		s = cfg->timeout_icmp;
		break;
	default:
		s = cfg->timeout_generic;
	}
	return (__u64)s * NSEC_PER_SEC;
}

/* ct_lookup returns the live entry of a flow, or NULL when there is none or
 * it has expired. */
static __always_inline struct ct_entry *ct_lookup(const struct ct_key *key, __u64 now)
{
	struct ct_entry *ct = bpf_map_lookup_elem(&enet_ct, key);

	if (ct && ct->expires_ns < now)
		return NULL;
	return ct;
}

/* ct_tcp_state moves a TCP flow along: a SYN from the originator (re)opens
 * it, the first non-SYN after a reply completes the handshake, FIN or RST
 * start closing. */
static __always_inline void ct_tcp_state(struct ct_entry *ct, __u8 flags, int reply)
{
	if (flags & (TCP_F_FIN | TCP_F_RST))
		ct->state = CT_CLOSING;
	else if (!reply && (flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN)
		ct->state = CT_SYN;
	else if (ct->state != CT_CLOSING && (ct->flags & CT_F_SEEN_REPLY) && !(flags & TCP_F_SYN))
		ct->state = CT_ESTABLISHED;
}

/* ct_update accounts a packet of a flow and pushes its expiry out. */
static __always_inline void ct_update(struct ct_entry *ct, const struct config *cfg, const struct pkt *p, int reply, __u64 now)
{
	if (reply) {
		ct->flags |= CT_F_SEEN_REPLY;
		ct->packets_reply++;
		ct->bytes_reply += p->len;
	} else {
		ct->packets_orig++;
		ct->bytes_orig += p->len;
	}
	if (p->tuple.proto == IPPROTO_TCP)
		ct_tcp_state(ct, p->tcp_flags, reply);
	ct->expires_ns = now + ct_timeout(cfg, ct, p->tuple.proto);
}

/* ct_init fills a new flow's entry, as its first packet sees it. */
static __always_inline void ct_init(struct ct_entry *ct, const struct config *cfg, const struct pkt *p,
		      const struct ct_key *reply, __u32 ifindex, __u32 flags, __u64 now)
{
	__builtin_memset(ct, 0, sizeof(*ct));
	ct->created_ns = now;
	ct->flags = flags;
	ct->ifindex = ifindex;
	ct->state = CT_NEW;
	ct->reply = *reply;
	if (p->tuple.proto == IPPROTO_TCP)
		ct->state = (p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN ? CT_SYN : CT_ESTABLISHED;
	ct->packets_orig = 1;
	ct->bytes_orig = p->len;
	ct->expires_ns = now + ct_timeout(cfg, ct, p->tuple.proto);
}

#endif
