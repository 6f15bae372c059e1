/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TCP connection tracking after netfilter's (nf_conntrack_proto_tcp.c):
 * its states and timeouts, a FIN and its acknowledgement followed per
 * side, so a half-closed connection lives on, and the sequence space each
 * side sent with the window the other advertised, so only a RST inside
 * the window closes a flow (RFC 5961's point, netfilter's
 * tcp_in_window). Data segments are not checked against the window: a
 * datapath that only forwards has no use for marking them invalid. */
#ifndef ENET_CT_TCP_H
#define ENET_CT_TCP_H

#include "common.h"
#include "maps.h"
#include "tcp.h"
#include "tuple.h"

#define CT_DIR_ORIG 0
#define CT_DIR_REPLY 1

/* What a packet did to its flow (ct_update, ct_tcp_update). */
#define CT_OK 0
#define CT_IGNORED 1	/* nothing: a RST outside the window, a stray SYN */
#define CT_KILL 2	/* reset before any reply: the flow is over (netfilter kills it too) */

static __always_inline __s32 ct_tcp_after(__u32 a, __u32 b)
{
	return (__s32)(a - b);
}

/* ct_tcp_open_side records a SYN or SYN-ACK: where the side's sequence
 * starts, its first window and its window scale offer. */
static __always_inline void ct_tcp_open_side(struct ct_tcp_side *s, const struct pkt *p)
{
	int ws = p->tcp.wscale != TCP_WSCALE_NONE;

	s->end = p->tcp.seq + p->tcp.len;
	s->maxwin = p->tcp.win ? p->tcp.win : 1;
	s->wscale = ws ? p->tcp.wscale : 0;
	s->flags = CT_TCP_F_SEEN | (ws ? CT_TCP_F_WSCALE : 0);
	s->pad = 0;
}

/* ct_tcp_init starts a flow's TCP state from its first packet: a SYN, or
 * a segment of a connection under way (the daemon started after it, or
 * its entry was evicted), picked up as netfilter's nf_conntrack_tcp_loose
 * does. The scale of a picked-up connection's windows is unknown, so the
 * largest is assumed: no RST it may carry is judged out of the window,
 * as netfilter tracks picked-up connections liberally. */
static __always_inline void ct_tcp_init(struct ct_entry *ct, const struct pkt *p)
{
	if ((p->tcp_flags & (TCP_F_SYN | TCP_F_ACK)) == TCP_F_SYN) {
		ct->state = CT_SYN_SENT;
		ct_tcp_open_side(&ct->tcp[CT_DIR_ORIG], p);
		return;
	}
	ct->state = (p->tcp_flags & (TCP_F_SYN | TCP_F_FIN | TCP_F_RST)) ? CT_CLOSE : CT_ESTABLISHED;
	ct->tcp[CT_DIR_ORIG].end = p->tcp.seq + p->tcp.len;
	ct->tcp[CT_DIR_ORIG].maxwin = (__u32)p->tcp.win << TCP_WSCALE_MAX;
	ct->tcp[CT_DIR_ORIG].flags = CT_TCP_F_SEEN | CT_TCP_F_WSCALE;
	ct->tcp[CT_DIR_ORIG].wscale = ct->tcp[CT_DIR_REPLY].wscale = TCP_WSCALE_MAX;
	ct->tcp[CT_DIR_REPLY].flags = CT_TCP_F_WSCALE;
}

/* ct_tcp_rst_ok: would the receiver take a RST from side dir? In SYN_SENT
 * only if it acknowledges the SYN (RFC 9293 3.10.7.3); after that, if
 * its sequence number is within the receiver's largest window of where
 * the sender has got to. A side that sent nothing yet (a flow picked up
 * mid-stream) gives nothing to judge by. */
static __always_inline int ct_tcp_rst_ok(const struct ct_entry *ct, const struct pkt *p, int dir)
{
	const struct ct_tcp_side *me = &ct->tcp[dir & 1], *peer = &ct->tcp[!dir];
	__u32 w = peer->maxwin;

	if (ct->state == CT_SYN_SENT && dir == CT_DIR_REPLY)
		return (p->tcp_flags & TCP_F_ACK) && p->tcp.ack == peer->end;
	if (!(me->flags & CT_TCP_F_SEEN))
		return 1;
	return p->tcp.seq - (me->end - w) <= 2 * w;
}

/* ct_tcp_syn: a SYN from the originator opens the flow again when it is a
 * retransmission or reuses the tuple of a closed connection; a SYN-ACK
 * from the replier answers it. Window scaling holds only if both offered
 * it (RFC 7323 2.2). Any other SYN is ignored, as netfilter does. */
static __always_inline int ct_tcp_syn(struct ct_entry *ct, const struct pkt *p, int dir)
{
	struct ct_tcp_side *orig = &ct->tcp[CT_DIR_ORIG], *reply = &ct->tcp[CT_DIR_REPLY];

	if (!(p->tcp_flags & TCP_F_ACK)) {
		if (dir != CT_DIR_ORIG || (ct->state != CT_SYN_SENT && ct->state < CT_TIME_WAIT))
			return CT_IGNORED;
		ct->state = CT_SYN_SENT;
		ct->flags &= ~CT_F_SEEN_REPLY;
		ct_tcp_open_side(orig, p);
		__builtin_memset(reply, 0, sizeof(*reply));
		return CT_OK;
	}
	if (dir != CT_DIR_REPLY || (ct->state != CT_SYN_SENT && ct->state != CT_SYN_RECV))
		return CT_IGNORED;
	ct_tcp_open_side(reply, p);
	if (!(orig->flags & reply->flags & CT_TCP_F_WSCALE))
		orig->wscale = reply->wscale = 0;
	ct->state = CT_SYN_RECV;
	return CT_OK;
}

/* ct_tcp_track follows what side dir sent: how far its sequence got, the
 * largest window it advertised, its FIN, and whether it acknowledged the
 * other side's FIN. */
static __always_inline void ct_tcp_track(struct ct_entry *ct, const struct pkt *p, int dir)
{
	struct ct_tcp_side *me = &ct->tcp[dir & 1], *peer = &ct->tcp[!dir];
	__u32 end = p->tcp.seq + p->tcp.len;
	__u32 win = (__u32)p->tcp.win << (me->wscale & 15);

	if (!(me->flags & CT_TCP_F_SEEN) || ct_tcp_after(end, me->end) > 0)
		me->end = end;
	if (win > me->maxwin)
		me->maxwin = win;
	me->flags |= CT_TCP_F_SEEN;
	if (p->tcp_flags & TCP_F_FIN)
		me->flags |= CT_TCP_F_FIN;
	if ((p->tcp_flags & TCP_F_ACK) && (peer->flags & CT_TCP_F_FIN) && ct_tcp_after(p->tcp.ack, peer->end) >= 0)
		peer->flags |= CT_TCP_F_FIN_ACKED;
}

/* ct_tcp_closing is the state of a connection past its handshake, from
 * the FINs each side sent and had acknowledged. */
static __always_inline __u32 ct_tcp_closing(const struct ct_entry *ct)
{
	__u8 o = ct->tcp[CT_DIR_ORIG].flags, r = ct->tcp[CT_DIR_REPLY].flags;

	if (o & r & CT_TCP_F_FIN)
		return (o & r & CT_TCP_F_FIN_ACKED) ? CT_TIME_WAIT : CT_LAST_ACK;
	if ((o | r) & CT_TCP_F_FIN)
		return ((o | r) & CT_TCP_F_FIN_ACKED) ? CT_CLOSE_WAIT : CT_FIN_WAIT;
	return CT_ESTABLISHED;
}

/* ct_tcp_update moves a flow along with a packet from side dir. Returns
 * CT_OK, or CT_IGNORED when the packet is one the state takes no notice
 * of: its expiry is not pushed out either. */
static __always_inline int ct_tcp_update(struct ct_entry *ct, const struct pkt *p, int dir)
{
	__u8 f = p->tcp_flags;

	if (f & TCP_F_RST) {
		if (!ct_tcp_rst_ok(ct, p, dir))
			return CT_IGNORED;
		ct->state = CT_CLOSE;
		return CT_OK;
	}
	if (f & TCP_F_SYN)
		return ct_tcp_syn(ct, p, dir);
	if (ct->state == CT_SYN_SENT)
		return CT_IGNORED;
	ct_tcp_track(ct, p, dir);
	if (ct->state == CT_SYN_RECV && dir == CT_DIR_ORIG && (f & TCP_F_ACK))
		ct->state = CT_ESTABLISHED;
	if (ct->state >= CT_ESTABLISHED && ct->state < CT_CLOSE)
		ct->state = ct_tcp_closing(ct);
	return CT_OK;
}

#endif
