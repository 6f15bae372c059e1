/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Decisions for traffic leaving an endpoint, seen at tc ingress of its
 * host-side veth. */
#ifndef ENET_FROM_EP_H
#define ENET_FROM_EP_H

#include "arp.h"
#include "bridge.h"
#include "common.h"
#include "deliver.h"
#include "dns.h"
#include "egress.h"
#include "eth.h"
#include "frag.h"
#include "icmp.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "nat.h"
#include "ports.h"
#include "tuple.h"
#include "verdict.h"

/* from_ep_arp: ARP goes to the bridge once its sender is the endpoint. */
static __always_inline int from_ep_arp(struct __sk_buff *skb, struct event *t, const struct iface *ifc)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct arp_eth4 *arp = data + sizeof(struct ethhdr);

	if ((void *)(arp + 1) > end)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	if (!arp_sender_ok(arp, ifc->mac, ipv4_load(ifc->ip4)))
		return verdict_drop(t, REASON_DROP_SPOOF_IP);
	return verdict(t, REASON_TO_BRIDGE, 0, TC_ACT_OK);
}

/* from_ep_l2: a frame the datapath does not route (a VLAN's, IPv6, any
 * ethertype but IPv4 and ARP) goes to the bridge, which carries it on the
 * endpoint's own network as any bridge would; with icc off only to the
 * bridge itself. The node takes no IPv6 from it: the daemon turns IPv6 off
 * on the bridges, so a rogue router advertisement configures nothing
 * (CVE-2020-13401). */
static __always_inline int from_ep_l2(struct __sk_buff *skb, struct event *t, const struct iface *ifc)
{
	struct network *net = bpf_map_lookup_elem(&enet_networks, &ifc->net_id);

	if (!net)
		return verdict_drop(t, REASON_DROP_NO_IFACE);
	return bridge_pass(skb, t, net);
}

/* from_ep_peer hands the packet straight to the destination endpoint's
 * eth0, skipping the bridge and the host stack. */
static __always_inline int from_ep_peer(struct __sk_buff *skb, struct event *t, const struct endpoint *ep)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	eth_addr_copy(eth->h_dest, ep->mac);
	verdict_count(t->ifindex, REASON_FWD_PEER, t->len);
	verdict_emit(t, REASON_FWD_PEER, ep->ifindex);
	return bpf_redirect_peer(ep->ifindex, 0);
}

/* from_ep_other_network: another network's gateway is an address of the node,
 * which endpoints may reach as Docker's containers reach any host address;
 * the rest of that network is isolated. */
static __always_inline int from_ep_other_network(struct __sk_buff *skb, struct event *t, const struct network *net,
			   const struct subnet *sub, __be32 daddr)
{
	struct network *other = bpf_map_lookup_elem(&enet_networks, &sub->net_id);

	if (other && ipv4_load(other->gateway) == daddr)
		return bridge_pass(skb, t, net);
	return verdict_drop(t, REASON_DROP_ISOLATION);
}

/* from_ep_rewritten sends on a packet an ICMP error translation rewrote,
 * routed as the endpoint's own (t->saddr). Once rewritten it cannot go to
 * the kernel to have its next hop resolved: bpf_redirect_neigh does. */
static __always_inline int from_ep_rewritten(struct __sk_buff *skb, struct event *t, const struct network *net)
{
	const struct config *cfg = config_get();
	struct bpf_fib_lookup fib;
	struct iphdr *ip = ipv4_hdr(skb);
	int res, ret;

	if (!ip || !cfg)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	if (lookup_endpoint(ip->daddr))
		return deliver_endpoint(skb, t, ip->daddr, REASON_FWD_REPLY);
	if (ip->ttl <= 1)
		return bridge_pass(skb, t, net);
	res = fib_out_lookup(skb, ip, ipv4_load(t->saddr), ip->daddr, cfg, &fib);
	ret = egress_fib_verdict(skb, t, net, res, 1);
	if (ret != ENET_CONTINUE)
		return ret;
	return egress_send(skb, t, &fib, res, ip->ttl, REASON_FWD_REPLY);
}

/* from_ep_hairpin: an endpoint connects to a port published on an address
 * of the node (any, for one published on every address: the uplink's, its
 * gateway, another network's gateway, ...). The flow goes straight to the
 * endpoint behind the port, its source made that endpoint's gateway so the
 * replies come back this way, as Docker's hairpin NAT does. */
static __always_inline int from_ep_hairpin(struct __sk_buff *skb, struct event *t, const struct network *net,
			     const struct pkt *p)
{
	const struct config *cfg = config_get();
	__be32 daddr = ipv4_load(p->tuple.daddr);
	struct port_target *port;
	struct network *tnet;
	struct endpoint *ep;
	struct ct_key to;
	int err;

	if (!cfg || (net->flags & NET_F_INTERNAL) || p->fragment == PKT_FRAG_LATER || !ct_starts(p))
		return ENET_CONTINUE;
	port = ports_lookup_pkt(p->tuple.proto, daddr, p->tuple.dport,
			       daddr == ipv4_load(cfg->snat_ip) || daddr == ipv4_load(net->gateway));
	if (!port)
		return ENET_CONTINUE;
	ep = lookup_endpoint(ipv4_load(port->addr));
	if (!ep)
		return verdict(t, REASON_DROP_ENDPOINT_GONE, 0, TC_ACT_OK);
	tnet = bpf_map_lookup_elem(&enet_networks, &ep->net_id);
	if (!tnet)
		return ENET_CONTINUE;
	to = p->tuple;
	__builtin_memcpy(to.saddr, tnet->gateway, 4);
	__builtin_memcpy(to.daddr, port->addr, 4);
	to.dport = port->port;
	err = nat_create(p, &to, ep->ifindex, CT_F_DNAT | CT_F_SNAT, 0);
	if (err)
		return verdict_drop(t, err);
	return egress_translated(skb, t, net, p, &to, REASON_FWD_HAIRPIN);
}

/* from_ep_flow: a packet of a translated flow or of one of the node's own
 * to the endpoint, or the first of a hairpin flow. ENET_CONTINUE when
 * none. */
static __always_inline int from_ep_flow(struct __sk_buff *skb, struct event *t, const struct network *net, const struct pkt *p)
{
	const struct config *cfg = config_get();
	__u64 now = bpf_ktime_get_ns();
	struct ct_entry *ct = NULL;
	struct nat_entry *e;
	struct ct_key to;
	__u32 reason;

	if (!cfg)
		return ENET_CONTINUE;
	if (p->icmp_error) {
		if (!icmp_error_xlate(skb, p, now, ipv4_load(t->saddr)))
			return ENET_CONTINUE;
		return from_ep_rewritten(skb, t, net);
	}
	e = nat_find(p, &ct, now, t->ifindex);
	if (!e)
		return from_ep_hairpin(skb, t, net, p);
	to = e->to;
	reason = (e->flags & NAT_F_REPLY) ? REASON_FWD_REPLY : REASON_FWD_SNAT;
	flow_update(e, ct, p, now, t->ifindex);
	/* A reply to a flow of the node's own (enet_to_br), given back the
	 * port it was sent from. */
	if (e->flags & NAT_F_HOST) {
		if (nat_rewrite(skb, t, p, &to) < 0)
			return verdict_drop(t, REASON_DROP_MALFORMED);
		return verdict(t, REASON_TO_HOST, 0, TC_ACT_OK);
	}
	return egress_translated(skb, t, net, p, &to, reason);
}

/* from_ep_ipv4 decides for an IPv4 packet whose source was checked. */
static __always_inline int from_ep_ipv4(struct __sk_buff *skb, struct event *t, const struct iface *ifc)
{
	struct network *net = bpf_map_lookup_elem(&enet_networks, &ifc->net_id);
	__be32 daddr = ipv4_load(t->daddr);
	struct endpoint *ep;
	struct subnet *sub;
	struct iphdr *ip;
	struct pkt p;
	int have_tuple, ret;

	if (!net)
		return verdict_drop(t, REASON_DROP_NO_IFACE);
	if (ipv4_is_bcast_mcast(daddr, ipv4_load(net->subnet), net->prefixlen)) {
		if (!(net->flags & NET_F_ICC))
			return verdict_drop(t, REASON_DROP_ICC);
		return verdict(t, REASON_TO_BRIDGE, 0, TC_ACT_OK);
	}
	ep = lookup_endpoint(daddr);
	if (ep) {
		if (ep->net_id != ifc->net_id)
			return verdict_drop(t, REASON_DROP_ISOLATION);
		if (!(net->flags & NET_F_ICC))
			return verdict_drop(t, REASON_DROP_ICC);
		return from_ep_peer(skb, t, ep);
	}
	ip = ipv4_hdr(skb);
	if (!ip)
		return verdict_drop(t, REASON_DROP_MALFORMED);
	have_tuple = tuple_parse(skb, ip, &p) == 0;
	if (have_tuple)
		event_tuple(t, &p.tuple);
	if (p.fragment) {
		ret = frag_step(skb, t, ip, &p, &have_tuple, 0);
		if (ret != ENET_CONTINUE)
			return ret;
	}
	if (have_tuple) {
		ret = from_ep_flow(skb, t, net, &p);
		if (ret != ENET_CONTINUE)
			return ret;
		ret = dns_answer(skb, t, ifc, net, &p);
		if (ret != ENET_CONTINUE)
			return ret;
	}
	sub = lookup_subnet(daddr);
	if (sub && sub->net_id != ifc->net_id)
		return from_ep_other_network(skb, t, net, sub, daddr);
	if (!sub)
		return egress_outside(skb, t, net, &p, have_tuple);
	/* The gateway, or another host on the subnet: the bridge. */
	return bridge_pass(skb, t, net);
}

#endif
