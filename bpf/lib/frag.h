/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* IPv4 fragments. Only the first fragment of a datagram carries its L4
 * header; the later ones carry its addresses, IP id and protocol. The
 * first one records the datagram's ports in enet_frags, so the later ones
 * find the same flow and get the same address translation. They need no
 * L4 checksum change: the checksum is in the first fragment and covers
 * the whole datagram. Fragments are translated one by one, never
 * reassembled here: each keeps its size, so PMTU discovery is untouched.
 *
 * A later fragment that comes before its first (it was reordered on the
 * way, or sent so) has no ports to go by. On the uplink, where the daemon
 * has its helper namespace (config.defrag_ifindex), the datagram takes a
 * detour: its record says so, and every fragment of it, the first one
 * too, goes into the helper, whose kernel reassembles it as netfilter's
 * defragmentation would before NAT, forwards it back and cuts it again in
 * order, each fragment no larger than the largest that came
 * (frag_max_size). enet_from_dfrg marks those and hands them back to the
 * uplink's ingress, where the first fragment now comes first. A marked
 * fragment never takes the detour again.
 *
 * Elsewhere (an endpoint's egress, whose own stack sends in order; the
 * uplink of a daemon without the helper) such a fragment goes round once
 * more through the interface's ingress queue, a few times at most, which
 * lets a first fragment already queued behind it come first. One still
 * unmatched is never translated by a guess: it goes on as a packet
 * without ports would, to the node's stack on the uplink (the kernel's
 * reassembly drops it as incomplete after ipfrag_time), or dropped
 * (drop-fragment) where leaving an endpoint needs masquerade. */
#ifndef ENET_FRAG_H
#define ENET_FRAG_H

#include "common.h"
#include "ct.h"
#include "ipv4.h"
#include "maps.h"
#include "tuple.h"
#include "verdict.h"

/* An incomplete datagram is kept as long as the kernel keeps one waiting
 * for its fragments (net.ipv4.ipfrag_time); past that the receiver has
 * dropped it. A whole one lingers 10 ms for duplicates, a long time for
 * fragments sent back to back, then its IP id is free for another
 * datagram, whose later fragments must not find this one's ports. */
#define FRAG_TIMEOUT_NS (30 * NSEC_PER_SEC)
#define FRAG_LINGER_NS (10 * 1000 * 1000ULL)

/* Rounds through the ingress queue a fragment waits for its first one.
 * The count travels in the mark, which a redirect within the netns keeps. */
#define FRAG_REQUEUE_MAX 3
#define ENET_MARK_FRAG 0x454e4600
#define ENET_MARK_FRAG_MASK 0xffffff00

/* A fragment back from the helper, in order, carries this mark (set by
 * enet_from_dfrg: the mark does not survive the namespace crossing). */
#define ENET_MARK_DEFRAG 0x454e4400

/* Results of frag_tuple. */
#define FRAG_OK 0	/* the packet has its tuple */
#define FRAG_NONE 1	/* it has none */
#define FRAG_WAIT 2	/* its first fragment may still come: requeue it */
#define FRAG_DROP 3	/* its datagram had two first fragments */
#define FRAG_DETOUR 4	/* its datagram goes to the helper to be reassembled */

/* What becomes of a fragment whose datagram has no record yet. */
#define FRAG_WAY_REQUEUE 0	/* it waits in the ingress queue: no helper here */
#define FRAG_WAY_DETOUR 1	/* it goes to the helper */
#define FRAG_WAY_RETURNED 2	/* back from the helper: it came in order */

static __always_inline void frag_key_of(struct frag_key *k, const struct iphdr *ip, __u32 ifindex)
{
	__builtin_memset(k, 0, sizeof(*k));
	ipv4_store(k->saddr, ip->saddr);
	ipv4_store(k->daddr, ip->daddr);
	k->ifindex = ifindex;
	k->id = bpf_ntohs(ip->id);
	k->proto = ip->protocol;
}

/* frag_account counts a fragment's payload; once the bytes seen cover
 * the datagram, its entry has FRAG_LINGER_NS left. A duplicate counts
 * twice and may start that early: a fragment after it is unmatched, never
 * misrouted. Concurrent fragments race on total, which at worst leaves an
 * entry to its timeout. */
static __always_inline void frag_account(struct frag_entry *e, const struct iphdr *ip, __u64 now)
{
	__u32 len = bpf_ntohs(ip->tot_len) - ((__u32)ip->ihl & 0xf) * 4;

	__sync_fetch_and_add(&e->seen, len);
	if (!(ip->frag_off & bpf_htons(IP_MF)))
		e->total = ipv4_frag_offset(ip) + len;
	if (e->total && e->seen >= e->total && e->expires_ns > now + FRAG_LINGER_NS)
		e->expires_ns = now + FRAG_LINGER_NS;
}

static __always_inline int frag_live(const struct frag_entry *e, __u64 now)
{
	return e->expires_ns >= now;
}

static __always_inline int frag_complete(const struct frag_entry *e)
{
	return e->total && e->seen >= e->total;
}

/* frag_first records the ports of a first fragment. A second first
 * fragment with the same ports is a duplicate; with other ports, while
 * the datagram is incomplete, it overlaps it (an IP id reused too soon,
 * or forged): the datagram is dropped, all of it, as the kernel's
 * reassembly would drop it. A complete datagram's id is free again, and
 * so is a detoured one's once its first fragment is back. */
static __always_inline int frag_first(const struct frag_key *k, const struct iphdr *ip, const struct pkt *p, __u64 now)
{
	struct frag_entry *e = bpf_map_lookup_elem(&enet_frags, k);
	struct frag_entry fresh = {
		.expires_ns = now + FRAG_TIMEOUT_NS,
		.sport = p->tuple.sport,
		.dport = p->tuple.dport,
		.tcp_flags = p->tcp_flags,
	};

	if (e && frag_live(e, now) && !frag_complete(e) && !(e->flags & FRAG_F_DETOURED)) {
		if (e->flags & FRAG_F_CONFLICT)
			return FRAG_DROP;
		if (e->sport != p->tuple.sport || e->dport != p->tuple.dport) {
			e->flags |= FRAG_F_CONFLICT;
			e->expires_ns = now + FRAG_LINGER_NS;
			return FRAG_DROP;
		}
		frag_account(e, ip, now);
		return FRAG_OK;
	}
	/* A write the map refuses loses the later fragments, not this one. */
	if (bpf_map_update_elem(&enet_frags, k, &fresh, BPF_ANY) == 0) {
		e = bpf_map_lookup_elem(&enet_frags, k);
		if (e)
			frag_account(e, ip, now);
	}
	return FRAG_OK;
}

/* frag_rounds is how many times a fragment went round waiting. */
static __always_inline __u32 frag_rounds(const struct __sk_buff *skb)
{
	if ((skb->mark & ENET_MARK_FRAG_MASK) != ENET_MARK_FRAG)
		return 0;
	return skb->mark & ~ENET_MARK_FRAG_MASK;
}

/* frag_detour_start records a datagram whose later fragment came first
 * as detoured, so the rest of it follows that fragment to the helper. A
 * write the map refuses leaves the fragment to wait, as without a helper. */
static __always_inline int frag_detour_start(const struct __sk_buff *skb, const struct frag_key *k, __u64 now)
{
	struct frag_entry e = { .expires_ns = now + FRAG_TIMEOUT_NS, .flags = FRAG_F_DETOURED };

	if (bpf_map_update_elem(&enet_frags, k, &e, BPF_ANY) == 0)
		return FRAG_DETOUR;
	return frag_rounds(skb) < FRAG_REQUEUE_MAX ? FRAG_WAIT : FRAG_NONE;
}

/* frag_unmatched: a later fragment whose datagram has no record. */
static __always_inline int frag_unmatched(const struct __sk_buff *skb, const struct frag_key *k, __u64 now, int way)
{
	switch (way) {
	case FRAG_WAY_DETOUR:
		return frag_detour_start(skb, k, now);
	case FRAG_WAY_RETURNED:
		/* Its first fragment came back before it and left no record:
		 * waiting brings nothing. */
		return FRAG_NONE;
	}
	return frag_rounds(skb) < FRAG_REQUEUE_MAX ? FRAG_WAIT : FRAG_NONE;
}

/* frag_later gives a later fragment its datagram's ports, or says why
 * not. */
static __always_inline int frag_later(const struct __sk_buff *skb, const struct frag_key *k, const struct iphdr *ip,
				      struct pkt *p, __u64 now, int way)
{
	struct frag_entry *e = bpf_map_lookup_elem(&enet_frags, k);

	if (!e || !frag_live(e, now))
		return frag_unmatched(skb, k, now, way);
	if (e->flags & FRAG_F_DETOURED)
		return way == FRAG_WAY_DETOUR ? FRAG_DETOUR : FRAG_NONE;
	if (e->flags & FRAG_F_CONFLICT)
		return FRAG_DROP;
	p->tuple.sport = e->sport;
	p->tuple.dport = e->dport;
	p->tcp_flags = e->tcp_flags;
	frag_account(e, ip, now);
	return FRAG_OK;
}

/* frag_detoured says whether a datagram's fragments go to the helper. */
static __always_inline int frag_detoured(const struct frag_key *k, __u64 now)
{
	struct frag_entry *e = bpf_map_lookup_elem(&enet_frags, k);

	return e && frag_live(e, now) && (e->flags & FRAG_F_DETOURED);
}

/* frag_tuple completes the tuple of a fragment: parsed says whether
 * tuple_parse found one. An ICMP error is not tracked: it is never
 * fragmented by a sender that keeps RFC 1812's 576 bytes. */
static __always_inline int frag_tuple(struct __sk_buff *skb, const struct iphdr *ip, struct pkt *p, int parsed, int way)
{
	__u64 now = bpf_ktime_get_ns();
	struct frag_key k;

	frag_key_of(&k, ip, skb->ingress_ifindex);
	if (p->fragment == PKT_FRAG_FIRST) {
		/* The rest of its datagram is in the helper: it joins them,
		 * whatever its L4 header. */
		if (way == FRAG_WAY_DETOUR && frag_detoured(&k, now))
			return FRAG_DETOUR;
		if (!parsed)
			return FRAG_NONE;
		if (p->icmp_error)
			return FRAG_OK;
		return frag_first(&k, ip, p, now);
	}
	return frag_later(skb, &k, ip, p, now, way);
}

/* frag_way: what becomes of the fragment if its datagram has no record,
 * where the helper is detour (0: none). The helper forwards the datagram
 * back: it would drop one whose TTL ran out there, and has no route for a
 * multicast or the limited broadcast, which the node's stack takes and no
 * flow translates. */
static __always_inline int frag_way(const struct __sk_buff *skb, const struct iphdr *ip, __u32 detour)
{
	if (!detour)
		return FRAG_WAY_REQUEUE;
	if (skb->mark == ENET_MARK_DEFRAG)
		return FRAG_WAY_RETURNED;
	if (ip->ttl <= 1 || ipv4_is_group(ip->daddr))
		return FRAG_WAY_REQUEUE;
	return FRAG_WAY_DETOUR;
}

/* frag_detour sends a fragment into the helper namespace: straight into
 * the peer of its veth, as if the helper had received it. */
static __always_inline int frag_detour(struct __sk_buff *skb, struct event *t, __u32 ifindex)
{
	skb->mark = 0;
	verdict(t, REASON_FRAG_DETOUR, ifindex, TC_ACT_OK);
	return bpf_redirect_peer(ifindex, 0);
}

/* frag_requeue sends a fragment round the interface's ingress once more,
 * its count of rounds in the mark. */
static __always_inline int frag_requeue(struct __sk_buff *skb, struct event *t)
{
	skb->mark = ENET_MARK_FRAG | (frag_rounds(skb) + 1);
	verdict(t, REASON_FRAG_REQUEUE, t->ifindex, TC_ACT_OK);
	return bpf_redirect(t->ifindex, BPF_F_INGRESS);
}

/* frag_step is what the tc programs do with a fragment before they use
 * its tuple: *have says whether tuple_parse found one and then whether
 * the packet has one; detour is the helper's veth where the program may
 * send the fragment, 0 where not. Returns ENET_CONTINUE or the packet's
 * verdict. */
static __always_inline int frag_step(struct __sk_buff *skb, struct event *t, const struct iphdr *ip, struct pkt *p,
				     int *have, __u32 detour)
{
	int way = frag_way(skb, ip, detour);
	int res = frag_tuple(skb, ip, p, *have, way);

	if (res == FRAG_WAIT)
		return frag_requeue(skb, t);
	if (res == FRAG_DETOUR)
		return frag_detour(skb, t, detour);
	/* The marks are ours: they must not reach the node's routing. */
	if (way == FRAG_WAY_RETURNED || frag_rounds(skb))
		skb->mark = 0;
	switch (res) {
	case FRAG_OK:
		*have = 1;
		return ENET_CONTINUE;
	case FRAG_DROP:
		return verdict_drop(t, REASON_DROP_FRAGMENT);
	}
	*have = 0;
	return ENET_CONTINUE;
}

#endif
