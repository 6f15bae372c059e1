/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connections rewritten at the socket (cgroup connect4/sendmsg4/recvmsg4/
 * getpeername4) instead of per packet and without a proxy process: the
 * node's own to published ports, and endpoints' DNS queries to Docker's
 * 127.0.0.11:53, which go to their network's resolver. These programs run
 * for every process on the machine: they always allow the call (return 1)
 * and change nothing outside the daemon's own network namespace and the
 * endpoints' namespaces it registered in enet_dns_ns. */
#ifndef ENET_SOCK_H
#define ENET_SOCK_H

#include "common.h"
#include "event.h"
#include "config.h"
#include "ipv4.h"
#include "lookup.h"
#include "maps.h"
#include "ports.h"

#define SOCK_ALLOW 1

/* Docker's embedded resolver, which containers find in resolv.conf. */
#define SOCK_DNS_ADDR bpf_htonl(0x7f00000b)	/* 127.0.0.11 */
#define SOCK_DNS_PORT 53

/* sock_ours is true for a socket in the daemon's namespace. */
static __always_inline int sock_ours(struct bpf_sock_addr *ctx, const struct config *cfg)
{
	return cfg && cfg->netns_cookie && bpf_get_netns_cookie(ctx) == cfg->netns_cookie;
}

/* sock_proto is the protocol of the publications a socket may reach, or
 * 0. The socket type does not tell: a ping socket is SOCK_DGRAM too. */
static __always_inline __u8 sock_proto(const struct bpf_sock_addr *ctx)
{
	if (ctx->protocol == IPPROTO_TCP || ctx->protocol == IPPROTO_UDP)
		return ctx->protocol;
	return 0;
}

static __always_inline __u16 sock_port(const struct bpf_sock_addr *ctx)
{
	return bpf_ntohs((__u16)ctx->user_port);
}

/* sock_is_node: addresses known to be the node's without a lookup:
 * loopback and the uplink's. ports_lookup finds the others. */
static __always_inline int sock_is_node(__be32 addr, const struct config *cfg)
{
	return ipv4_is_loopback(addr) || addr == ipv4_load(cfg->snat_ip);
}

/* sock_rewrite sends the socket to addr:port instead of where it was
 * told, and remembers where that was in revs (enet_sock_rev or
 * enet_dns_rev) for the replies. */
static __always_inline void sock_rewrite(struct bpf_sock_addr *ctx, void *revs, __u8 proto, __be32 addr, __u16 port,
					 __u16 flags)
{
	struct sock_rev_key key = {};
	struct sock_rev orig = {};

	key.cookie = bpf_get_socket_cookie(ctx);
	ipv4_store(key.addr, addr);
	key.port = port;
	key.proto = proto;
	ipv4_store(orig.addr, ctx->user_ip4);
	orig.port = sock_port(ctx);
	bpf_map_update_elem(revs, &key, &orig, BPF_ANY);
	event_sock(proto, ctx->user_ip4, orig.port, addr, port, flags);
	ctx->user_ip4 = addr;
	ctx->user_port = bpf_htons(port);
}

/* sock_restore shows a reply's source, or the peer, as the address the
 * socket was told if sock_rewrite sent it elsewhere. */
static __always_inline void sock_restore(struct bpf_sock_addr *ctx, void *revs, __u8 proto)
{
	struct sock_rev_key key = {};
	struct sock_rev *orig;

	key.cookie = bpf_get_socket_cookie(ctx);
	ipv4_store(key.addr, ctx->user_ip4);
	key.port = sock_port(ctx);
	key.proto = proto;
	orig = bpf_map_lookup_elem(revs, &key);
	if (!orig)
		return;
	ctx->user_ip4 = ipv4_load(orig->addr);
	ctx->user_port = bpf_htons(orig->port);
}

/* sock_resolver is the resolver of the socket's namespace, NULL if the
 * daemon did not register it. */
static __always_inline struct dns_ns *sock_resolver(struct bpf_sock_addr *ctx)
{
	__u64 netns = bpf_get_netns_cookie(ctx);

	return bpf_map_lookup_elem(&enet_dns_ns, &netns);
}

/* sock_to_endpoint: a node socket's published port, to its endpoint. */
static __always_inline void sock_to_endpoint(struct bpf_sock_addr *ctx, const struct config *cfg, __u8 proto)
{
	__be32 addr = ctx->user_ip4;
	struct port_target *port;

	port = ports_lookup(proto, addr, sock_port(ctx), sock_is_node(addr, cfg));
	/* With its endpoint gone the port is the node's, which refuses it. */
	if (port && lookup_endpoint(ipv4_load(port->addr)))
		sock_rewrite(ctx, &enet_sock_rev, proto, ipv4_load(port->addr), port->port, 0);
}

/* sock_to_resolver: an endpoint's query to 127.0.0.11:53, to its
 * network's resolver. Checking the address first spares every other
 * socket the lookup. */
static __always_inline void sock_to_resolver(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct dns_ns *ns;

	if (ctx->user_ip4 != SOCK_DNS_ADDR || sock_port(ctx) != SOCK_DNS_PORT)
		return;
	ns = sock_resolver(ctx);
	if (ns)
		sock_rewrite(ctx, &enet_dns_rev, proto, ipv4_load(ns->addr), DNS_RESOLVER_PORT, EVENT_F_DNS);
}

/* sock_from_resolver: the resolver's answers, and the peer, shown as
 * 127.0.0.11:53 to the endpoint sockets sock_to_resolver sent there. */
static __always_inline void sock_from_resolver(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct dns_ns *ns;

	if (sock_port(ctx) != DNS_RESOLVER_PORT)
		return;
	ns = sock_resolver(ctx);
	if (ns && ctx->user_ip4 == ipv4_load(ns->addr))
		sock_restore(ctx, &enet_dns_rev, proto);
}

/* sock_out rewrites where a socket connects or sends to (connect4,
 * sendmsg4). */
static __always_inline int sock_out(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	__u8 proto = sock_proto(ctx);

	if (!proto)
		return SOCK_ALLOW;
	if (sock_ours(ctx, cfg))
		sock_to_endpoint(ctx, cfg, proto);
	else
		sock_to_resolver(ctx, proto);
	return SOCK_ALLOW;
}

/* sock_in shows a reply's source, or the peer, as the address the
 * socket was given (recvmsg4, getpeername4). */
static __always_inline int sock_in(struct bpf_sock_addr *ctx)
{
	const struct config *cfg = config_get();
	__u8 proto = sock_proto(ctx);

	if (!proto)
		return SOCK_ALLOW;
	if (sock_ours(ctx, cfg))
		sock_restore(ctx, &enet_sock_rev, proto);
	else
		sock_from_resolver(ctx, proto);
	return SOCK_ALLOW;
}

#endif
