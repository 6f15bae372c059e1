/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What conntrack reads of a TCP header beyond the ports: sequence and
 * acknowledgement numbers, the window, how much sequence space the segment
 * takes, and a SYN's window scale option. */
#ifndef ENET_TCP_H
#define ENET_TCP_H

#include "common.h"

#define TCP_F_FIN 0x01
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_WSCALE 3
#define TCP_WSCALE_MAX 14	/* RFC 7323 2.3 */
#define TCP_WSCALE_NONE 0xff
/* Options are walked one at a time; a SYN carries five or six. */
#define TCP_OPT_WALK 12

struct tcp_seg {
	__u32 seq;
	__u32 ack;
	__u32 len;		/* sequence space: payload, and one each for SYN and FIN */
	__u16 win;		/* as sent, unscaled */
	__u8 wscale;		/* a SYN's window scale option; TCP_WSCALE_NONE without */
	__u8 pad;
};

/* The start of a TCP header, as far as the window. */
struct tcp_head {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack;
	__u8 doff;		/* data offset in the high nibble */
	__u8 flags;
	__be16 win;
};

/* tcp_wscale finds the window scale option among a SYN's options, which
 * run from off to end. */
static __noinline __u8 tcp_wscale(struct __sk_buff *skb, __u32 off, __u32 end)
{
	__u8 opt[3];
	int i;

	for (i = 0; i < TCP_OPT_WALK && off < end; i++) {
		if (bpf_skb_load_bytes(skb, off, opt, 1) < 0 || opt[0] == TCP_OPT_EOL)
			break;
		if (opt[0] == TCP_OPT_NOP) {
			off++;
			continue;
		}
		if (off + 2 > end || bpf_skb_load_bytes(skb, off, opt, 2) < 0 || opt[1] < 2)
			break;
		if (opt[0] == TCP_OPT_WSCALE && opt[1] == 3 && off + 3 <= end &&
		    bpf_skb_load_bytes(skb, off, opt, 3) == 0)
			return opt[2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : opt[2];
		off += opt[1];
	}
	return TCP_WSCALE_NONE;
}

/* tcp_parse reads the TCP header at off of a segment whose IP payload is
 * ip_len bytes long, ports included. Returns 0, or -1 when it is not all
 * there. */
static __always_inline int tcp_parse(struct __sk_buff *skb, __u32 off, __u32 ip_len, struct tcp_head *h,
				     struct tcp_seg *seg)
{
	__u32 hlen;

	if (bpf_skb_load_bytes(skb, off, h, sizeof(*h)) < 0)
		return -1;
	hlen = (__u32)(h->doff >> 4) * 4;
	seg->seq = bpf_ntohl(h->seq);
	seg->ack = bpf_ntohl(h->ack);
	seg->win = bpf_ntohs(h->win);
	/* A GSO packet's total length covers every segment it stands for. */
	seg->len = ip_len > hlen ? ip_len - hlen : 0;
	seg->len += !!(h->flags & TCP_F_SYN) + !!(h->flags & TCP_F_FIN);
	seg->wscale = TCP_WSCALE_NONE;
	if ((h->flags & TCP_F_SYN) && hlen > sizeof(*h) + 4)
		seg->wscale = tcp_wscale(skb, off + 20, off + hlen);
	return 0;
}

#endif
