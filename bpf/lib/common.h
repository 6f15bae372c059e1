/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes, verdict reasons and small helpers every program uses. */
#ifndef ENET_COMMON_H
#define ENET_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Why a packet went where it went. Every verdict is counted per interface
 * and reason in enet_stats; the Go side gets these names from BTF. Drops
 * start at REASON_DROP_MALFORMED. */
enum reason {
	REASON_FWD_PEER = 1,	/* delivered to an endpoint with bpf_redirect_peer */
	REASON_TO_BRIDGE,	/* handed to the bridge: ARP, broadcast, the gateway */
	REASON_FWD_SNAT,	/* masqueraded out of the uplink */
	REASON_FWD_ROUTED,	/* routed out of the uplink untranslated (masquerade=false) */
	REASON_FWD_REPLY,	/* a reply translated back and delivered to its endpoint */
	REASON_TO_HOST,		/* left to the node's own stack */
	REASON_HOST_FLOW,	/* the node's own packet out of the uplink, recorded */
	REASON_FWD_DNAT,	/* to a published port, delivered to its endpoint */
	REASON_FWD_HAIRPIN,	/* endpoint to a published port, back to an endpoint */
	REASON_FLOW_EVICTED,	/* a packet of a flow that lost an entry to a full
				 * enet_ct or enet_nat (LRU); not a verdict */
	REASON_FRAG_REQUEUE,	/* a fragment that came before its datagram's first,
				 * sent round once more to wait for it */
	REASON_TO_BRIDGE_UNRESOLVED,	/* next hop not resolved: handed to the bridge
					 * untranslated, for the kernel to resolve it or
					 * answer host unreachable (enet_to_up translates) */
	REASON_FWD_ICMP_ERROR,	/* the kernel's ICMP error about a translated flow,
				 * translated back on its way out of the uplink */
	REASON_TCP_RST_IGNORED,	/* a TCP RST outside its flow's window, passed on
				 * without closing the flow; not a verdict */
	REASON_FRAG_DETOUR,	/* a fragment of a datagram whose first fragment came
				 * late, sent to the helper namespace to be
				 * reassembled (frag.h) */
	REASON_FRAG_REASSEMBLED,	/* a fragment the helper sent back, its datagram
					 * reassembled and cut again in order, to the
					 * uplink's ingress */
	REASON_DNS_ANSWERED,	/* an endpoint's query for a name of its network,
				 * answered in the datapath (dns.h) */
	REASON_EVENT_LOST,	/* an event enet_events had no room for (counted,
				 * with no bytes, where the packet was) */
	REASON_DROP_MALFORMED = 32,	/* truncated or impossible headers */
	REASON_DROP_NO_IFACE,	/* program runs on an interface it does not know */
	REASON_DROP_SPOOF_MAC,	/* source MAC is not the endpoint's */
	REASON_DROP_SPOOF_IP,	/* source IP (or ARP sender) is not the endpoint's */
	REASON_DROP_ISOLATION,	/* destination belongs to another network */
	REASON_DROP_ICC,	/* endpoint to endpoint on a network with icc=false */
	REASON_DROP_PROTO,	/* a priority tag the datapath cannot look past */
	REASON_DROP_INTERNAL,	/* an internal network's packet leaving its subnet */
	REASON_DROP_NAT_EXHAUSTED,	/* no free source port in the range */
	REASON_DROP_NAT_PROTO,	/* ICMP of no flow (not a query): cannot be masqueraded */
	REASON_DROP_FRAGMENT,	/* a later IPv4 fragment that needs a translation and
				 * whose first fragment was not seen, or overlapped */
	REASON_DROP_NO_ROUTE,	/* a masqueraded packet routed elsewhere than the uplink */
	REASON_DROP_DIRECT,	/* from outside straight to a masqueraded endpoint */
	REASON_DROP_CT_FULL,	/* a conntrack or NAT entry could not be written */
	REASON_DROP_NO_FLOW,	/* an ICMP error for no known flow */
	REASON_DROP_TOO_BIG,	/* over the uplink's MTU without DF: cannot fragment */
	REASON_DROP_NAT_CLASH,	/* a flow whose port cannot change (none: GRE, ESP;
				 * SCTP) and whose reply tuple another flow holds,
				 * which netfilter drops too (insert_failed) */
	REASON_DROP_ENDPOINT_GONE,	/* to a published port whose endpoint is gone: left to
					 * the node, which holds nothing there and refuses it */
	REASON_DROP_UNTRANSLATED,	/* an endpoint's packet the kernel forwarded to the
					 * uplink with no translation, on a network whose
					 * address must not leave */
	REASON_DROP_TCP_NO_FLOW,	/* a TCP segment that cannot start a flow
					 * (RST, FIN, SYN-ACK) and belongs to none */
	REASON_DROP_PREFILTER,	/* enet_xdp_up: its source is in a prefilter prefix */
	REASON_DROP_SPOOF_OUTSIDE,	/* enet_xdp_up: from outside, with a source in an
					 * endpoint subnet */
	REASON_DROP_XDP_MALFORMED,	/* enet_xdp_up: a frame too short for its headers,
					 * or an IPv4 header that is not one */
	REASON_MAX,
};

/* Bits of struct config.flags. */
enum config_flag {
	CONFIG_F_TRACE = 1 << 0,	/* every verdict goes to enet_events */
	CONFIG_F_TRACE_DROPS = 1 << 1,	/* drops go to enet_events */
	CONFIG_F_FLOWS = 1 << 2,	/* new flows and socket rewrites go to enet_events */
};

/* What an enet_events record is (struct event.kind). */
enum event_kind {
	EVENT_VERDICT = 0,	/* a program's decision on a packet */
	EVENT_FLOW = 1,		/* a new flow and its translation (flow_create) */
	EVENT_SOCK = 2,		/* a socket sent elsewhere than it was told (sock.h) */
};

/* Which program wrote an event (struct event.hook). */
enum event_hook {
	HOOK_NONE = 0,
	HOOK_FROM_EP,		/* enet_from_ep */
	HOOK_TO_BR,		/* enet_to_br */
	HOOK_FROM_UP,		/* enet_from_up */
	HOOK_TO_UP,		/* enet_to_up */
	HOOK_FROM_DFRG,		/* enet_from_dfrg */
	HOOK_SOCK,		/* the cgroup socket programs */
};

/* Bits of struct event.flags. */
enum event_flag {
	EVENT_F_XLATED = 1 << 0,	/* the x* fields hold the packet as translated */
	EVENT_F_DNS = 1 << 1,		/* a socket rewrite to the network's resolver */
};

/* Bits of struct network.flags. */
enum network_flag {
	NET_F_ICC = 1 << 0,		/* endpoints may talk to each other */
	NET_F_INTERNAL = 1 << 1,	/* no path out of the subnet */
	NET_F_MASQUERADE = 1 << 2,	/* outbound traffic is source-NATed */
};

#define ETH_ALEN 6

/* Returned by a step of a program's decision when it leaves the packet to
 * the next step. */
#define ENET_CONTINUE (-2)

#endif
