/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: per-flow state and expiry in enet_ct (assured
 * flows) and enet_ct_new (the others). A flow whose expiry has passed is
 * dead for the datapath at once; the daemon's GC removes it from the maps
 * later. */
#ifndef ENET_CT_H
#define ENET_CT_H

#include "common.h"
#include "ct_tcp.h"
#include "maps.h"
#include "tuple.h"

#define NSEC_PER_SEC 1000000000ULL
/* A replied UDP flow still going this long after its first packet is a
 * stream (netfilter's nf_conntrack_proto_udp.c). */
#define CT_UDP_STREAM_NS (2 * NSEC_PER_SEC)

static __always_inline int ct_udp_stream(const struct ct_entry *ct, __u64 now)
{
	return (ct->flags & CT_F_ASSURED) ||
	       ((ct->flags & CT_F_SEEN_REPLY) && now - ct->created_ns >= CT_UDP_STREAM_NS);
}

static __always_inline __u32 ct_tcp_timeout(const struct config *cfg, const struct ct_entry *ct)
{
	switch (ct->state) {
	case CT_SYN_SENT:
		return cfg->timeout_tcp_syn_sent;
	case CT_SYN_RECV:
		return cfg->timeout_tcp_syn_recv;
	case CT_ESTABLISHED:
		/* Picked up mid-stream and never answered: not a connection
		 * yet, as netfilter has it. */
		if (!(ct->flags & CT_F_SEEN_REPLY) && cfg->timeout_tcp_unacknowledged < cfg->timeout_tcp_established)
			return cfg->timeout_tcp_unacknowledged;
		return cfg->timeout_tcp_established;
	case CT_FIN_WAIT:
		return cfg->timeout_tcp_fin_wait;
	case CT_CLOSE_WAIT:
		return cfg->timeout_tcp_close_wait;
	case CT_LAST_ACK:
		return cfg->timeout_tcp_last_ack;
	case CT_TIME_WAIT:
		return cfg->timeout_tcp_time_wait;
	case CT_NEW:
	case CT_CLOSE:
	case CT_REPLIED: /* not a TCP state */
		break;
	}
	return cfg->timeout_tcp_close;
}

/* ct_timeout is how long a flow lives after its last packet. The other
 * protocols with ports (UDP-Lite, DCCP, SCTP) have no state tracked here
 * and live as UDP flows do; an idle SCTP association's heartbeats (every
 * 30 s) keep its flow. Those without ports take netfilter's generic
 * timeout. */
static __always_inline __u64 ct_timeout(const struct config *cfg, const struct ct_entry *ct, __u8 proto, __u64 now)
{
	__u32 s;

	switch (proto) {
	case IPPROTO_TCP:
		s = ct_tcp_timeout(cfg, ct);
		break;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
	case IPPROTO_SCTP:
		s = ct_udp_stream(ct, now) ? cfg->timeout_udp_stream : cfg->timeout_udp;
		break;
	case IPPROTO_ICMP:
		s = cfg->timeout_icmp;
		break;
	default:
		s = cfg->timeout_generic;
	}
	return (__u64)s * NSEC_PER_SEC;
}

/* ct_assured says whether a flow belongs in enet_ct and enet_nat: a TCP
 * connection that completed its handshake (or was picked up and answered)
 * and is not closed both ways yet, a UDP stream; as netfilter's assured
 * flows, and its early_drop's TCP states; the other protocols as UDP,
 * but ICMP never. The rest live in the _new maps. */
static __always_inline int ct_assured(const struct ct_entry *ct, __u8 proto, __u64 now)
{
	switch (proto) {
	case IPPROTO_TCP:
		return (ct->flags & CT_F_SEEN_REPLY) && ct->state >= CT_ESTABLISHED && ct->state <= CT_CLOSE_WAIT;
	case IPPROTO_ICMP:
		return 0; /* a query and its answer: never a stream */
	}
	/* UDP and the other protocols, with ports or without: a stream */
	return ct_udp_stream(ct, now);
}

/* ct_starts says whether p may start a flow. A TCP segment may if it is a
 * SYN, or a bare ACK (with or without data) of a connection under way;
 * a RST, a FIN or a SYN-ACK of no known flow starts nothing, as in
 * netfilter, so a port scan's answers leave no trace. */
static __always_inline int ct_starts(const struct pkt *p)
{
	__u8 f = p->tcp_flags & (TCP_F_SYN | TCP_F_ACK | TCP_F_FIN | TCP_F_RST);

	return p->tuple.proto != IPPROTO_TCP || f == TCP_F_SYN || f == TCP_F_ACK;
}

/* ct_live returns the live entry of a flow in the conntrack map cts
 * (enet_ct or enet_ct_new), or NULL when there is none or it has expired. */
static __always_inline struct ct_entry *ct_live(void *cts, const struct ct_key *key, __u64 now)
{
	struct ct_entry *ct = bpf_map_lookup_elem(cts, key);

	if (ct && ct->expires_ns < now)
		return NULL;
	return ct;
}

/* ct_update accounts a packet of a flow, moves its state along and
 * pushes its expiry out. Returns CT_OK, CT_IGNORED (the state took no
 * notice: the expiry stays) or CT_KILL (a RST before any reply). */
static __always_inline int ct_update(struct ct_entry *ct, const struct config *cfg, const struct pkt *p, int reply, __u64 now)
{
	int ret;

	if (reply) {
		ct->packets_reply++;
		ct->bytes_reply += p->len;
	} else {
		ct->packets_orig++;
		ct->bytes_orig += p->len;
	}
	/* A later fragment carries no TCP header: its flags are the first
	 * fragment's (frag.h), its sequence numbers none to follow. */
	if (p->tuple.proto == IPPROTO_TCP && p->fragment != PKT_FRAG_LATER) {
		ret = ct_tcp_update(ct, p, reply);
		if (ret != CT_OK)
			return ret;
		if ((p->tcp_flags & TCP_F_RST) && !(ct->flags & CT_F_SEEN_REPLY))
			return CT_KILL;
	}
	if (reply) {
		ct->flags |= CT_F_SEEN_REPLY;
		/* So bpftool shows what `ebpfnet bpf ct` says: replied. */
		if (p->tuple.proto != IPPROTO_TCP)
			ct->state = CT_REPLIED;
	}
	ct->expires_ns = now + ct_timeout(cfg, ct, p->tuple.proto, now);
	return CT_OK;
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
		ct_tcp_init(ct, p);
	ct->packets_orig = 1;
	ct->bytes_orig = p->len;
	ct->expires_ns = now + ct_timeout(cfg, ct, p->tuple.proto, now);
}

#endif
